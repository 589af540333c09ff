// Mutual proof of the shared bot secret: each side sends an HMAC over both nonces, labelled by role so a
// proof can never be reflected back as the other side's.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

export type ProofRole = 'client' | 'server';

export function proofFor(role: ProofRole, secret: string, serverNonce: string, clientNonce: string): string {
  return createHmac('sha256', secret).update(`${role}|${serverNonce}|${clientNonce}`).digest('hex');
}

/** Constant-time check of a received proof against the expected one. */
export function proofMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(received, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
