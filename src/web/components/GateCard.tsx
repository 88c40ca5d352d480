import { useEffect, useRef, type ReactNode } from 'react';
import { useSession } from '../app/session.js';

/**
 * A signed-in page the API holds the user at until one step is done (first
 * password, admin second factor): the sign-in card's frame, a focused heading
 * and a way out.
 */
export function GateCard({ title, heading, wide = false, children }: { title: string; heading: string; wide?: boolean; children: ReactNode }) {
  const { logout } = useSession();
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Flotilla`;
    headingRef.current?.focus();
  }, [title]);
  return (
    <main className="login" id="main">
      <div className={`login-card${wide ? ' login-card-wide' : ''}`}>
        <p className="brand brand-large" aria-hidden="true">
          Flotilla
        </p>
        <h1 ref={headingRef} tabIndex={-1}>
          {heading}
        </h1>
        {children}
        <div className="form-links">
          <button type="button" className="button-link" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </div>
    </main>
  );
}
