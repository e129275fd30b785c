/**
 * Redis: connections, the study's private embedded server, and the keys of studies and fleets
 * (the conductor's store, the dashboard's reader). The only folder that creates ioredis clients.
 */
export { openQuickRedis, readConductorLease } from './conductor-lease.js';
export type { LeaseFacts } from './conductor-lease.js';
export {
  RedisConnectionError,
  connectRedis,
  describeRedisError,
  fatalConnectionError,
  redisSecrets,
} from './connection.js';
export type { ConnectionRole, Redis, RedisTarget } from './connection.js';
export {
  RedisServerMissingError,
  RedisServerStartError,
  StudyBusyError,
  embeddedRedisDir,
  findRedisServer,
  lockEmbeddedRedis,
  startEmbeddedRedis,
} from './embedded-redis.js';
export type { EmbeddedRedis, OwnerLock, RedisExit } from './embedded-redis.js';
export { clientRoom, fleetRoomProblem, openFileLimit } from './client-room.js';
export type { ClientRoom } from './client-room.js';
export { FleetStore } from './fleet-store.js';
export { StudyReader } from './study-reader.js';
export { LeaseLostError, StudyStore } from './study-store.js';
