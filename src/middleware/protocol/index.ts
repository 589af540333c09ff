// The wire protocol between herder and bot: frames, messages, sessions, the exactly-once ledger contract.
export { ClientSession, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './client-session.js';
export type { CallOptions, CallResult, ClientSessionOptions, Welcome } from './client-session.js';
export { ServerSession, DEFAULT_PRE_AUTH_MAX_FRAME_BYTES } from './server-session.js';
export type { CallContext, CallHandler, ServerSessionOptions } from './server-session.js';
export { Execution, shutdownReason } from './ledger.js';
export type { CallClaim, CallLedger, CallReply, CallRunner, ExecutionWaiter } from './ledger.js';
export { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame } from './frames.js';
export { PROGRAM_NAME, PROTOCOL_VERSION, messageSchema, parseMessage } from './messages.js';
export type { BotHealth, Message } from './messages.js';
export { createChannelPair } from './channel-pair.js';
export type { ChannelPairOptions } from './channel-pair.js';
export type { JsonValue } from './json.js';
export type { MiddlewareLogger } from './log.js';
