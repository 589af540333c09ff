// What a failed plugin call may have done: the one meaning every error that can end a plugin call carries, so
// an agent decides "try again" or "ask the resource what happened" from the error alone (never from its class
// or its message). It lives in the plugin layer so plugins (which must not import the middleware) can state it
// on their own errors, and the middleware and the agents read it the same way.
//
// - 'not-run': the call certainly did nothing (it was never sent, the bot refused it before running it, the
//   plugin could not be built, the method does not exist). Repeating it is safe.
// - 'may-have-run': it may have done all, part or none of its work (sent and then no answer, the deadline
//   passed, the link dropped, the plugin threw half-way, the answer was malformed). Never repeat it blindly.

export const callEffects = ['not-run', 'may-have-run'] as const;
export type CallEffect = (typeof callEffects)[number];

export function isCallEffect(value: unknown): value is CallEffect {
  return (callEffects as readonly unknown[]).includes(value);
}

/**
 * What an error says about the call it ended: its `callEffect` property when it has a valid one, else
 * 'may-have-run' — an error that does not say (a plain Error a plugin threw) may come from half-way through.
 */
export function callEffectOf(error: unknown): CallEffect {
  const declared = typeof error === 'object' && error !== null ? (error as { callEffect?: unknown }).callEffect : undefined;
  return isCallEffect(declared) ? declared : 'may-have-run';
}
