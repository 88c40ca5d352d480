import type { LiveState } from '../api/events.js';

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: 'Connecting to live updates…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  unavailable: 'Live updates unavailable; reload to retry',
};

export function LiveIndicator({ state }: { state: LiveState }) {
  return (
    <span className={`live live-${state}`} role="status">
      <span className="live-dot" aria-hidden="true" />
      {LIVE_TEXT[state]}
    </span>
  );
}
