import { describe, expect, it } from 'vitest';
import { isNotModified, parseEntityTags, weakMatch } from '../src/conditional.ts';
import { decodeRepresentation, encodeRepresentation, httpDate, strongEtag } from '../src/representation.ts';

const rep = { etag: '"abc"', lastModified: 'Mon, 23 Nov 2026 10:00:00 GMT' };

describe('parseEntityTags', () => {
  it('reads a list of strong and weak tags, spaces and all', () => {
    expect(parseEntityTags('"a", W/"b" ,"c"')).toEqual([
      { weak: false, opaque: '"a"' },
      { weak: true, opaque: '"b"' },
      { weak: false, opaque: '"c"' },
    ]);
  });

  it('keeps a comma inside quotes as part of the tag', () => {
    expect(parseEntityTags('"a,b", "c"')).toEqual([
      { weak: false, opaque: '"a,b"' },
      { weak: false, opaque: '"c"' },
    ]);
  });

  it('reads * as "any representation" and skips members that are not entity tags', () => {
    expect(parseEntityTags(' * ')).toBe('*');
    expect(parseEntityTags('abc, "ok", W/x')).toEqual([{ weak: false, opaque: '"ok"' }]);
    expect(parseEntityTags(undefined)).toEqual([]);
    expect(parseEntityTags('')).toEqual([]);
  });

  it('compares weakly: W/ is ignored, the quoted parts must be equal', () => {
    expect(weakMatch('W/"abc"', '"abc"')).toBe(true);
    expect(weakMatch('"abc"', '"abd"')).toBe(false);
  });
});

describe('isNotModified (RFC 9110 §13.2.2)', () => {
  it('is true when one tag of If-None-Match matches, weak or strong', () => {
    expect(isNotModified('GET', { 'if-none-match': '"abc"' }, rep)).toBe(true);
    expect(isNotModified('GET', { 'if-none-match': '"x", W/"abc"' }, rep)).toBe(true);
    expect(isNotModified('HEAD', { 'if-none-match': '*' }, rep)).toBe(true);
  });

  it('is false for another tag, for an unquoted tag and for methods other than GET and HEAD', () => {
    expect(isNotModified('GET', { 'if-none-match': '"old"' }, rep)).toBe(false);
    expect(isNotModified('GET', { 'if-none-match': 'abc' }, rep)).toBe(false);
    expect(isNotModified('POST', { 'if-none-match': '"abc"' }, rep)).toBe(false);
  });

  it('uses If-Modified-Since only without If-None-Match, and ignores an invalid date', () => {
    expect(isNotModified('GET', { 'if-modified-since': 'Mon, 23 Nov 2026 10:00:01 GMT' }, rep)).toBe(true);
    expect(isNotModified('GET', { 'if-modified-since': 'Mon, 23 Nov 2026 11:00:00 GMT' }, rep)).toBe(true);
    expect(isNotModified('GET', { 'if-modified-since': 'Mon, 23 Nov 2026 09:59:59 GMT' }, rep)).toBe(false);
    expect(isNotModified('GET', { 'if-modified-since': 'yesterday' }, rep)).toBe(false);
    expect(
      isNotModified('GET', { 'if-none-match': '"old"', 'if-modified-since': rep.lastModified }, rep),
      'If-None-Match is present, so If-Modified-Since must be ignored',
    ).toBe(false);
  });

  it('counts a change in the same second as the If-Modified-Since date as a change: HTTP dates have whole seconds', () => {
    // The client's copy says 10:00:00; Last-Modified 10:00:00 may be a second write at
    // 10:00:00.700 that the copy does not have. Only a later date proves the copy current.
    expect(
      isNotModified('GET', { 'if-modified-since': rep.lastModified }, rep),
      'a write in the same second as the copy was confirmed as unchanged',
    ).toBe(false);
  });
});

describe('representations', () => {
  it('tags the same bytes with the same strong ETag, and other bytes with another', () => {
    const a = strongEtag(Buffer.from('{"a":1}'));
    expect(a).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(strongEtag(Buffer.from('{"a":1}'))).toBe(a);
    expect(strongEtag(Buffer.from('{"a":2}'))).not.toBe(a);
  });

  it('writes HTTP dates with whole seconds', () => {
    expect(httpDate('2026-11-23T10:55:28.933Z')).toBe('Mon, 23 Nov 2026 10:55:28 GMT');
  });

  it('round-trips an envelope, the body as a view on the same memory', () => {
    const body = Buffer.from('{"rows":["a\\nb"]}');
    const envelope = encodeRepresentation({ body, etag: strongEtag(body), lastModified: httpDate(0) });
    const decoded = decodeRepresentation(envelope);
    expect(decoded?.body.equals(body)).toBe(true);
    expect(decoded?.body.buffer).toBe(envelope.buffer);
    expect(decoded?.etag).toBe(strongEtag(body));
    expect(decodeRepresentation(Buffer.from('{"rows":[]}'))).toBeUndefined();
  });
});
