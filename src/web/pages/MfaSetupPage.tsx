import { useEffect, useRef } from 'react';
import { useSession, useUser } from '../app/session.js';
import { TotpSetup } from '../components/TotpSetup.js';

/** Admins must have a second factor before the API lets them do anything else (security.requireMfaForAdmins). */
export function MfaSetupPage() {
  const user = useUser();
  const { logout, finishMfaSetup } = useSession();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = 'Two-step verification · Flotilla';
    heading.current?.focus();
  }, []);
  return (
    <main className="login" id="main">
      <div className="login-card login-card-wide">
        <p className="brand brand-large" aria-hidden="true">
          Flotilla
        </p>
        <h1 ref={heading} tabIndex={-1}>
          Set up two-step verification
        </h1>
        <p>
          <strong>{user.username}</strong>, this server requires administrators to sign in with a second factor. Set one up to continue.
        </p>
        <TotpSetup onDone={finishMfaSetup} />
        <div className="form-links">
          <button type="button" className="button-link" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </div>
    </main>
  );
}
