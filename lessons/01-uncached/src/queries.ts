import type { Pool } from '@cachelab/db';
import type { PaymentsQuery } from './validation.ts';

/**
 * The SQL of the API, one function per question. Nothing here knows about HTTP or caches:
 * later lessons wrap these same functions with caches, so the query being cached is the
 * one measured here.
 */

export interface Employee {
  id: number;
  name: string;
  email: string;
  department: string;
  status: 'in' | 'out';
  status_updated_at: string;
  updated_at: string;
}

export interface Payment {
  id: number;
  borrower_id: string;
  loan_id: string;
  transaction_date: string;
  amount: number;
  principal: number;
  interest: number;
  currency: string;
  status: string;
}

export interface InvestorSummary {
  investor: string;
  payments: number;
  total_amount: number;
  average_amount: number;
  first_payment: string | null;
  last_payment: string | null;
  late_payments: number;
  by_year: { year: number; payments: number; amount: number }[];
}

export async function getEmployee(db: Pool, id: number): Promise<Employee | undefined> {
  const { rows } = await db.query<Employee>(
    `SELECT id, name, email, department, status, status_updated_at, updated_at
       FROM employees WHERE id = $1`,
    [id],
  );
  return rows[0];
}

export async function investorExists(db: Pool, investor: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM investors WHERE id = $1', [investor]);
  return (rowCount ?? 0) > 0;
}

/**
 * The classic slow query: one investor, one date range, up to `limit` rows, in date order.
 * There is no index on (investor_id, transaction_date), so PostgreSQL scans the whole table
 * and sorts what matches; on the default million rows that is the time you will see.
 */
export async function listPayments(db: Pool, q: PaymentsQuery): Promise<Payment[]> {
  const { rows } = await db.query<Payment>(
    `SELECT id, borrower_id, loan_id, transaction_date, amount, principal, interest, currency, status
       FROM borrower_payments
      WHERE investor_id = $1 AND transaction_date >= $2 AND transaction_date < $3
      ORDER BY transaction_date, id
      LIMIT $4`,
    [q.investor, q.from, q.to, q.limit],
  );
  return rows;
}

/** A slow aggregate: every payment of one investor, summed by year (a full scan too). */
export async function investorSummary(db: Pool, investor: string): Promise<InvestorSummary> {
  const { rows } = await db.query<{
    year: number | null;
    payments: number;
    amount: number;
    first_payment: string | null;
    last_payment: string | null;
    late_payments: number;
  }>(
    `SELECT extract(year FROM transaction_date)::int AS year,
            count(*)::int AS payments,
            coalesce(sum(amount), 0)::numeric(14,2) AS amount,
            min(transaction_date) AS first_payment,
            max(transaction_date) AS last_payment,
            count(*) FILTER (WHERE status <> 'settled')::int AS late_payments
       FROM borrower_payments
      WHERE investor_id = $1
      GROUP BY ROLLUP (extract(year FROM transaction_date))
      ORDER BY year NULLS LAST`,
    [investor],
  );
  const total = rows.find((r) => r.year === null);
  const payments = total?.payments ?? 0;
  const amount = total?.amount ?? 0;
  return {
    investor,
    payments,
    total_amount: amount,
    average_amount: payments > 0 ? Math.round((amount / payments) * 100) / 100 : 0,
    first_payment: total?.first_payment ?? null,
    last_payment: total?.last_payment ?? null,
    late_payments: total?.late_payments ?? 0,
    by_year: rows
      .filter((r) => r.year !== null)
      .map((r) => ({ year: r.year as number, payments: r.payments, amount: r.amount })),
  };
}
