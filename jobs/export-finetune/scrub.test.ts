import { describe, expect, it } from 'vitest';
import { canaries, controls, residualCanaries } from '../../test/fixtures/finetune-canaries.ts';
import { type ClassCounts, createScrubber, luhnValid } from './scrub.ts';

const expectedCounts = (items: { class: string }[]) => {
  const counts: ClassCounts = {};
  for (const item of items) counts[item.class] = (counts[item.class] ?? 0) + 1;
  return counts;
};

describe('the scrubber', () => {
  const scrubber = createScrubber([{ name: 'ORDER_ID', pattern: /ord_[0-9a-z]{12}/g }]);

  it.each(canaries)('replaces $class $text with its placeholder', (canary) => {
    const counts: ClassCounts = {};
    const name = canary.class;
    const out = scrubber.scrub(`before ${canary.text} after.`, counts);
    expect(out).toBe(`before ${canary.scrubbed ?? `<${name}>`} after.`);
    expect(counts).toEqual({ [name]: 1 });
  });

  it('removes every canary from one text and counts each class', () => {
    const text = canaries.map((c, i) => `item ${i}: ${c.text};`).join('\n');
    const counts: ClassCounts = {};
    const out = scrubber.scrub(text, counts);
    for (const canary of canaries) expect(out).not.toContain(canary.secret ?? canary.text);
    expect(counts).toEqual(expectedCounts(canaries));
  });

  it.each(controls)('leaves text without PII untouched: %s', (text) => {
    const counts: ClassCounts = {};
    expect(scrubber.scrub(text, counts)).toBe(text);
    expect(counts).toEqual({});
  });

  it("scrubs the app's own identifiers first, under their own class", () => {
    const counts: ClassCounts = {};
    expect(scrubber.scrub('refund ord_8f3k2m9x1q7z now', counts)).toBe('refund <ORDER_ID> now');
    expect(counts).toEqual({ ORDER_ID: 1 });
  });

  it('leaves numbers that fail their checksum: a non-Luhn card, a bad IBAN', () => {
    const counts: ClassCounts = {};
    const text = 'ref 4111 1111 1111 1112 and DE89 3704 0044 0532 0130 01';
    expect(scrubber.scrub(text, counts)).toBe(text);
    expect(luhnValid('4111111111111111')).toBe(true);
  });

  it('keeps an IBAN followed by capitals to its country length', () => {
    const counts: ClassCounts = {};
    expect(scrubber.scrub('GB82WEST12345698765432 OK', counts)).toBe('<IBAN> OK');
  });

  describe('inside a JSON answer', () => {
    it('scrubs strings, keys and numbers, and the answer stays valid JSON', () => {
      const answer = JSON.stringify({
        customer: { email: 'a.b@example.com', phone: '+1 202 555 0173', 'ops@lowburn.dev': 1 },
        card: 4111111111111111,
        amount: 12.5,
        note: 'ok',
      }).replace('"card":4111111111111111', '"card": 4111111111111111');
      const counts: ClassCounts = {};
      const out = scrubber.scrub(answer, counts);
      expect(JSON.parse(out)).toEqual({
        customer: { email: '<EMAIL>', phone: '<PHONE>', '<EMAIL>': 1 },
        card: '<CARD>',
        amount: 12.5,
        note: 'ok',
      });
      expect(counts).toEqual({ EMAIL: 2, PHONE: 1, CARD: 1 });
    });

    it('finds what JSON escapes hide', () => {
      const counts: ClassCounts = {};
      const out = scrubber.scrub('{"contact":"jane\\u0040example.com"}', counts);
      expect(JSON.parse(out)).toEqual({ contact: '<EMAIL>' });
    });

    it('keeps JSON without PII byte for byte', () => {
      const answer = '{ "title": "Red shoes",  "size": 42 }';
      expect(scrubber.scrub(answer, {})).toBe(answer);
    });
  });

  describe('residual secrets', () => {
    it.each(residualCanaries)('finds $class in $text', ({ text, class: name }) => {
      const out = scrubber.scrub(text, {});
      expect(scrubber.residual(out)).toBe(name);
    });

    it.each([...controls, ...canaries.map((c) => c.text)])('finds none once scrubbed: %s', (t) => {
      expect(scrubber.residual(scrubber.scrub(t, {}))).toBeUndefined();
    });
  });
});
