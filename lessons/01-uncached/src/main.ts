import { createApp } from './app.ts';
import { serveLesson } from './serve.ts';

await serveLesson({ lesson: '01-uncached', createApp: ({ db }) => createApp({ db }) });
