import { describe, expect, it } from 'vitest';
import { FinetuneRefusedError } from '../../shared/errors/finetune-refused-error.ts';
import { checkJsonl, checkLine, LineCheckCounts } from './validate.ts';

const good = JSON.stringify({
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Summarise: the cat sat.' },
    { role: 'assistant', content: 'A cat sat.' },
  ],
});
const goods = (n: number) => Array.from({ length: n }, () => good);

/** The refusal that ten good lines plus `lines` get. */
function refusal(lines: string[]): FinetuneRefusedError {
  try {
    checkJsonl([...goods(10), ...lines].join('\n'));
  } catch (error) {
    expect(error).toBeInstanceOf(FinetuneRefusedError);
    return error as FinetuneRefusedError;
  }
  throw new Error('expected a refusal');
}

describe('the cookbook checks', () => {
  it('pass a valid chat example and a dataset of ten', () => {
    expect(checkLine(good)).toEqual([]);
    expect(() => checkJsonl(goods(10).join('\n'))).not.toThrow();
  });

  it.each([
    ['invalid_json', '{"messages": [', 1],
    ['data_type', '["messages"]', 1],
    ['missing_messages_list', '{"messages": []}', 1],
    [
      'unrecognized_key',
      '{"messages": [{"role":"user","content":"a"},{"role":"assistant","content":"b"}], "prompt": "a"}',
      1,
    ],
    [
      'message_missing_key',
      '{"messages": [{"role":"user"},{"role":"assistant","content":"b"}]}',
      1,
    ],
    [
      'message_unrecognized_key',
      '{"messages": [{"role":"user","content":"a","lang":"en"},{"role":"assistant","content":"b"}]}',
      1,
    ],
    [
      'unrecognized_role',
      '{"messages": [{"role":"tool","content":"a"},{"role":"assistant","content":"b"}]}',
      1,
    ],
    [
      'missing_content',
      '{"messages": [{"role":"user","content":""},{"role":"assistant","content":"b"}]}',
      1,
    ],
    [
      'missing_content',
      '{"messages": [{"role":"user","content":["a"]},{"role":"assistant","content":"b"}]}',
      1,
    ],
    ['example_missing_assistant_message', '{"messages": [{"role":"user","content":"a"}]}', 1],
    [
      'last_message_not_assistant',
      '{"messages": [{"role":"assistant","content":"a"},{"role":"user","content":"b"}]}',
      1,
    ],
  ] as const)('refuse %s, naming its count', (check, line, n) => {
    expect(checkLine(line)).toContain(check);
    const error = refusal([line, line]);
    expect(error.counts[check]).toBe(2 * n);
    expect(error.message).toContain(`2 examples failed ${check}`);
  });

  it('refuse fewer than ten training examples, naming how many there are', () => {
    const counts = new LineCheckCounts();
    for (const line of goods(9)) counts.add(line);
    expect(() => counts.assertWritable(9)).toThrow(
      /9 training examples \(too_few_examples: at least 10 needed\)/,
    );
  });

  it('name every failed check in one refusal', () => {
    const error = refusal(['{"messages": [', '{"messages": [{"role":"user","content":"a"}]}']);
    expect(error.counts).toEqual({ invalid_json: 1, example_missing_assistant_message: 1 });
    expect(error.message).toMatch(
      /1 example failed invalid_json; 1 example failed example_missing/,
    );
  });

  it('accept the optional keys the format allows', () => {
    const line = JSON.stringify({
      messages: [
        { role: 'user', content: 'a', name: 'ann' },
        { role: 'assistant', content: 'b', weight: 1 },
      ],
    });
    expect(checkLine(line)).toEqual([]);
  });
});
