import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { refreshSession, sessionEnded } from './client.js';
import type { FleetSummary, MachineRow } from './types.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unavailable';

interface Handlers {
  machine?: (row: MachineRow) => void;
  summary?: (summary: FleetSummary) => void;
}

const subscribers = new Set<{ current: Handlers }>();
const stateListeners = new Set<(state: LiveState) => void>();
let source: EventSource | null = null;
let state: LiveState = 'connecting';
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let failures = 0;

function setState(next: LiveState) {
  state = next;
  for (const listener of [...stateListeners]) listener(next);
}

function parse<T>(event: MessageEvent): T | null {
  try {
    return JSON.parse(String(event.data)) as T;
  } catch {
    return null;
  }
}

function open() {
  if (source || subscribers.size === 0) return;
  const es = new EventSource('/api/fleet/events');
  source = es;
  es.addEventListener('open', () => {
    failures = 0;
    setState('live');
  });
  es.addEventListener('machine', (event) => {
    const row = parse<MachineRow>(event as MessageEvent);
    if (row) for (const s of subscribers) s.current.machine?.(row);
  });
  es.addEventListener('summary', (event) => {
    const summary = parse<FleetSummary>(event as MessageEvent);
    if (summary) for (const s of subscribers) s.current.summary?.(summary);
  });
  // The server ends a stream when the access token it was opened with expires (the page has renewed it by
  // then: reopen at once) or when its session is revoked (renew, which fails, and the session ends).
  es.addEventListener('end', (event) => {
    es.close();
    source = null;
    if (parse<{ reason?: string }>(event as MessageEvent)?.reason === 'expired') open();
    else retryLater();
  });
  es.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself. CLOSED: the server refused (401, 404, 429, 503), so we decide.
    if (es.readyState !== EventSource.CLOSED) {
      setState('reconnecting');
      return;
    }
    es.close();
    source = null;
    retryLater();
  });
}

function retryLater() {
  failures += 1;
  setState(failures > 3 ? 'unavailable' : 'reconnecting');
  const delay = Math.min(60_000, 2_000 * 2 ** Math.min(failures, 5));
  retryTimer = setTimeout(() => {
    retryTimer = null;
    // An expired access token is the usual reason; renew it once, then reopen.
    void refreshSession().then((ok) => {
      if (!ok && failures > 1) sessionEnded.emit({ reason: 'expired' });
      else open();
    });
  }, delay);
}

function close() {
  if (subscribers.size > 0) return;
  source?.close();
  source = null;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  failures = 0;
  setState('connecting');
}

/**
 * Live fleet events from `GET /api/fleet/events`, one EventSource shared by
 * every component that listens. Handlers may change between renders.
 */
export function useFleetEvents(handlers: Handlers): LiveState {
  const ref = useRef(handlers);
  useLayoutEffect(() => {
    ref.current = handlers;
  });
  const [live, setLive] = useState<LiveState>(state);
  useEffect(() => {
    const holder = ref;
    subscribers.add(holder);
    stateListeners.add(setLive);
    setLive(state);
    open();
    return () => {
      subscribers.delete(holder);
      stateListeners.delete(setLive);
      close();
    };
  }, []);
  return live;
}
