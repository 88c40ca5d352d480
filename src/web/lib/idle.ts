import { useEffect, useRef } from 'react';

const ACTIVITY_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'focus'] as const;
const CHECK_EVERY_MS = 10_000;

/**
 * Calls onIdle once no pointer, key or wheel activity has been seen for
 * timeoutMs. Live updates and token renewals are not activity: a dashboard
 * left open on a wall must still time out like the server's session does.
 */
export function useIdleTimeout(enabled: boolean, timeoutMs: number, onIdle: () => void): void {
  const callback = useRef(onIdle);
  useEffect(() => {
    callback.current = onIdle;
  });

  useEffect(() => {
    if (!enabled) return;
    let lastActivity = Date.now();
    let fired = false;
    const touch = () => {
      lastActivity = Date.now();
    };
    for (const name of ACTIVITY_EVENTS) window.addEventListener(name, touch, { passive: true, capture: true });
    const check = () => {
      if (fired || Date.now() - lastActivity < timeoutMs) return;
      fired = true;
      callback.current();
    };
    const timer = setInterval(check, Math.min(CHECK_EVERY_MS, timeoutMs));
    // A laptop waking from sleep: check at once rather than at the next tick.
    document.addEventListener('visibilitychange', check);
    return () => {
      for (const name of ACTIVITY_EVENTS) window.removeEventListener(name, touch, { capture: true });
      document.removeEventListener('visibilitychange', check);
      clearInterval(timer);
    };
  }, [enabled, timeoutMs]);
}
