import { expect } from 'vitest';
import type { HttpHarness, TestResponse } from './http.ts';

/** What every problem+json body of the workshop holds (RFC 9457), with the lessons' `errors`. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { parameter: string; message: string }[];
}

/** `res` is a problem+json answer with `status`, a title and a detail; returns its body. */
export function expectProblem(res: TestResponse, status: number): ProblemBody {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = res.json<ProblemBody>();
  expect(body.status).toBe(status);
  expect(body.title.length, 'a problem without a title').toBeGreaterThan(0);
  expect(body.detail.length, 'a problem without a detail').toBeGreaterThan(0);
  return body;
}

/**
 * The methods of a path, as lesson 01's handlers answer them: OPTIONS is a 204 with `Allow`,
 * and a method the path does not have (`wrong`) a 405 problem+json with the same `Allow`.
 */
export async function expectAllowed(http: HttpHarness, path: string, allow: string, wrong: string): Promise<void> {
  const options = await http.request(path, { method: 'OPTIONS' });
  expect(options.status, `OPTIONS ${path}`).toBe(204);
  expect(options.headers.get('allow'), `OPTIONS ${path}`).toBe(allow);
  const res = await http.request(path, { method: wrong });
  expect(expectProblem(res, 405).type).toBe('urn:cachelab:problem:method-not-allowed');
  expect(res.headers.get('allow'), `${wrong} ${path}`).toBe(allow);
}

/**
 * A write whose body is not labelled `application/json` (text/plain, or no type at all) is a
 * 415 problem naming the type, with `Accept-Patch` / `Accept-Post` where the method has one.
 */
export async function expectJsonOnly(
  http: HttpHarness,
  method: 'PATCH' | 'POST' | 'PUT',
  path: string,
  body: string,
  contentType: string | undefined = 'text/plain',
): Promise<void> {
  const res = await http.request(path, {
    method,
    ...(contentType ? { headers: { 'content-type': contentType } } : {}),
    body: contentType ? body : new Blob([body]),
  });
  expect(expectProblem(res, 415).detail, `${method} ${path}`).toContain('application/json');
  const accept = { PATCH: 'accept-patch', POST: 'accept-post', PUT: undefined }[method];
  if (accept) expect(res.headers.get(accept), `${method} ${path}`).toBe('application/json');
}

/**
 * A write whose body is labelled JSON but is not (`{name: "Ada"}`: a name without quotes) is a
 * 400 problem that says so in the workshop's words, with where the mistake is (`position 1`),
 * not the parser's own text ("Expected property name or '}' in JSON at position 1").
 */
export async function expectMalformedJson(
  http: HttpHarness,
  method: 'PATCH' | 'POST' | 'PUT',
  path: string,
): Promise<ProblemBody> {
  const res = await http.request(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: '{name: "Ada"}',
  });
  const body = expectProblem(res, 400);
  expect(body.type, `${method} ${path}`).toBe('urn:cachelab:problem:bad-body');
  expect(body.detail, `${method} ${path}`).toMatch(/is not valid JSON: the mistake is at position 1\b/);
  expect(body.detail, `${method} ${path}: the parser's own words`).not.toMatch(/Expected property name/);
  return body;
}
