export { type CompareOptions, type CompareRun, type Comparison, compareStrategies, roundRatio } from './compare.ts';
export { cpuProfileFlags } from './cpu-profile.ts';
export {
  checkLocal,
  hitRatio,
  type LatencySummary,
  type LoadGenerator,
  type LoadPlan,
  type LoadResult,
  runLoad,
  startLoadGenerator,
} from './load.ts';
export { machineLine, REPO_ROOT, requireServices, wholeNumberFlag, writeOutput } from './output.ts';
export { type ProfileEntry, summarizeProfile } from './profile.ts';
export {
  expressListener,
  type LoadReferenceBodies,
  listenLocal,
  nodeHttpListener,
  type ReferenceBodies,
  referenceStrategies,
} from './reference-strategies.ts';
export {
  type Bar,
  type Column,
  fixed,
  htmlReport,
  int,
  markdownTable,
  megabytes,
  percent,
  type ReportSection,
  svgBars,
  terminalBars,
} from './render.ts';
export { type StartOptions, type StrategyServer, startServer } from './server.ts';
export { parseServerTiming } from './server-timing.ts';
export { median, quantile, summarizeLatencies } from './stats.ts';
export type { RunningStrategy, ServerStats, Strategy, StrategyContext } from './strategy.ts';
export { curlVersion, type TimedResponse, type TimingClient, timedGet } from './timed-request.ts';
export { collectValidators } from './validators.ts';
export { mulberry32, profileSequence, type SequenceProfile, uniformSequence, zipfSequence } from './zipf.ts';
