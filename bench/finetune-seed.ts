import { sql } from 'kysely';
import type { Db } from '../shared/db/create-db.ts';

/** Sentences prompts and answers are made of: support-ticket prose, as a summary task sees it. */
const FRAGMENTS = [
  'The customer says the order arrived two days late and the box was damaged on one corner.',
  'They were charged twice for the same subscription renewal this month.',
  'The mobile app logs them out every time they switch to another app and back.',
  'A replacement part was promised last week but no tracking number was ever sent.',
  'The invoice shows the old company address even though it was changed in settings.',
  'Export to CSV stops at the first thousand rows and the rest of the report is missing.',
  'Password reset emails arrive after the link has already expired.',
  'They want to move three seats from the team plan to a new workspace.',
  'The dashboard shows yesterday as zero although the API calls went through.',
  'Support chat closed the conversation before the agent answered the last question.',
  'The discount code from the newsletter was rejected at checkout.',
  'Delivery was left at the wrong building and the courier will not pick it up again.',
  'The webhook endpoint receives every event twice since the last release.',
  'Search results ignore the date filter when a keyword is also given.',
  'The printer driver fails to install on the new laptops in the Berlin office.',
  'A refund was approved but the bank statement still shows the full amount.',
  'The product page lists the wrong size chart for the children collection.',
  'Two-factor codes by text message do not arrive on their network abroad.',
  'They ask whether the annual plan can be paid in four instalments instead.',
  'The calendar sync duplicates recurring meetings after daylight saving time changed.',
  'Uploading images larger than ten megabytes shows a generic error with no details.',
  'The warranty claim form does not accept serial numbers that start with a letter.',
  'Their account was locked after three failed logins although the password was right.',
  'The shipping estimate at checkout says three days, the confirmation says ten.',
  'Email notifications are in English although the profile language is Spanish.',
  'The subscription was cancelled but the renewal reminder keeps coming every week.',
  'An item in the bundle is out of stock and they want a partial refund for it.',
  'The API returns a timeout for large batch requests made in the early morning.',
  'Team members invited last Friday never received the invitation emails.',
  'The tax on the invoice was calculated for the wrong country.',
  'Gift card balance disappeared after a failed payment attempt.',
  'They cannot download last year invoices from the billing page any more.',
  'Live tracking stopped updating once the parcel left the sorting centre.',
  'The new pricing page does not say whether support is included in the basic plan.',
  'Scheduled reports are sent at midnight UTC instead of the local morning.',
  'A colleague left the company and they need ownership of her projects moved.',
  'The kitchen mixer makes a grinding noise after two weeks of normal use.',
  'Order history shows cancelled orders as still processing.',
  'Dark mode makes the chart labels unreadable on the analytics screen.',
  'They were promised a call back yesterday afternoon and nobody called.',
];

export interface SeedOptions {
  rows: number;
  now: Date;
}

/**
 * Inserts `rows` generation rows the way the generate job records them, in one statement: the
 * first half on five days a week ago (for the cold export), the rest from yesterday 00:00 until
 * a minute ago. Every 10th row is a fallback pair (error, timeout, invalid in turn), two in ten
 * are cache hits, one in a hundred failed, the rest local answers. Prompts repeat after 90 % of
 * the rows (so ~10 % of the fallback pairs are asked again, later, for the dedup), and some carry
 * an e-mail, a phone number, a card number or an API key.
 */
export async function seedGenerations(db: Db, options: SeedOptions): Promise<void> {
  const { rows } = options;
  const half = Math.floor(rows / 2);
  const period = Math.max(10, Math.floor((rows * 0.9) / 10) * 10);
  const coldStart = new Date(
    `${new Date(options.now.getTime() - 7 * 86_400_000).toISOString().slice(0, 10)}T00:00:00Z`,
  );
  const hotStart = new Date(
    `${new Date(options.now.getTime() - 86_400_000).toISOString().slice(0, 10)}T00:00:00Z`,
  );
  const hotSpanS = (options.now.getTime() - 60_000 - hotStart.getTime()) / 1000;
  const perColdDay = Math.max(1, Math.ceil(half / 5));
  await sql`
    WITH f AS (SELECT ${FRAGMENTS}::text[] AS f, ${FRAGMENTS.length}::int AS n),
    r AS (
      SELECT i, i % ${period} AS k,
        CASE WHEN i <= ${half}
          THEN ${coldStart.toISOString()}::timestamptz
            + make_interval(days => ((i - 1) / ${perColdDay})::int,
                            secs => ((i - 1) % ${perColdDay}) * 86399.0 / ${perColdDay})
          ELSE ${hotStart.toISOString()}::timestamptz
            + make_interval(secs => (i - ${half} - 1) * ${hotSpanS}::float8 / ${Math.max(1, rows - half)})
        END AS at
      FROM generate_series(1, ${rows}) AS i
    ),
    p AS (
      SELECT r.*, 'Summarise ticket ' || k || ': '
        || f[1 + (k * 7) % n] || ' ' || f[1 + (k * 13) % n] || ' ' || f[1 + (k * 29) % n]
        || CASE
             WHEN k % 1000 = 0 THEN ' The key sk-proj-' || md5(k::text) || ' was pasted in the ticket.'
             WHEN k % 250 = 0 THEN ' Card 4111 1111 1111 1111 was charged twice.'
             WHEN k % 97 = 0 THEN ' Call back on +44 20 7946 ' || lpad((k % 10000)::text, 4, '0') || '.'
             WHEN k % 40 = 0 THEN ' Reply to customer' || k || '@example.com.'
             ELSE '' END AS text,
        'Summary: ' || f[1 + (k * 17) % n] || ' ' || f[1 + (i * 19) % n] AS answer
      FROM r, f
    )
    INSERT INTO generations (id, created_at, api_key_id, user_id, task_type, prompt, prompt_hash,
      request, response, status, cache_layer, route, model, tokens_in, tokens_out, cost_usd,
      latency_ms, error, fallback_reason)
    SELECT 'bench-' || i, at, '00000000-0000-4000-8000-000000000001', 'user-' || (i % 5000),
      'summary', 'user: ' || text,
      encode(sha256(convert_to('user: ' || text, 'UTF8')), 'hex'),
      jsonb_build_object('userId', 'user-' || (i % 5000),
        'apiKeyId', '00000000-0000-4000-8000-000000000001', 'taskType', 'summary', 'prompt', text),
      CASE WHEN i % 100 = 7 THEN NULL ELSE answer END,
      CASE WHEN i % 100 = 7 THEN 'failed' ELSE 'completed' END,
      CASE WHEN i % 10 IN (1, 2) AND i % 100 <> 7 THEN 'exact' END,
      CASE WHEN i % 100 = 7 OR i % 10 IN (1, 2) THEN NULL
           WHEN i % 10 = 0 THEN 'frontier' ELSE 'local' END,
      CASE WHEN i % 10 = 0 THEN 'gpt-4o-mini' ELSE 'llama3.2:3b' END,
      length(text) / 4, length(answer) / 4,
      CASE WHEN i % 10 = 0 THEN 0.00004 ELSE 0 END,
      100 + i % 900,
      CASE WHEN i % 100 = 7 THEN 'local model failed' END,
      CASE WHEN i % 10 = 0 THEN (ARRAY['error', 'timeout', 'invalid'])[1 + (i / 10) % 3] END
    FROM p`.execute(db);
}
