/**
 * WorkerSignals from the conductor (`PUBLISH <p>:control <json>`), e.g. "cancel the running steps
 * of study X". Pub/sub is fire-and-forget: a worker that is disconnected misses the message, which
 * is why the claim script also refuses steps of a cancelled study.
 */
import { controlChannel, WorkerSignal } from '@maestro/protocol';
import type { Logger } from 'pino';
import type { Redis } from './redis.js';

/** Subscribes `subscriber` (a connection used for nothing else) to the control channel. */
export async function subscribeControl(
  subscriber: Redis,
  prefix: string,
  onSignal: (signal: WorkerSignal) => void,
  log: Logger,
): Promise<void> {
  const channel = controlChannel(prefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      json = undefined;
    }
    const parsed = WorkerSignal.safeParse(json);
    if (!parsed.success) {
      log.warn({ channel, message: message.slice(0, 200) }, 'ignored an unknown control message');
      return;
    }
    onSignal(parsed.data);
  });
  await subscriber.subscribe(channel);
}
