import { useEffect, useRef } from 'react';
import { useSession, useUser } from '../app/session.js';
import { PasswordForm } from '../components/PasswordForm.js';

/** Until the first password change the API refuses everything else, so this page is all there is. */
export function PasswordChangePage() {
  const user = useUser();
  const { logout } = useSession();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = 'New password · Flotilla';
    heading.current?.focus();
  }, []);
  return (
    <main className="login" id="main">
      <div className="login-card">
        <p className="brand brand-large" aria-hidden="true">
          Flotilla
        </p>
        <h1 ref={heading} tabIndex={-1}>
          Choose a new password
        </h1>
        <p>
          Welcome, <strong>{user.username}</strong>. Your password was set by someone else and works only once: choose your own before you continue.
        </p>
        <PasswordForm submitLabel="Save and continue" />
        <div className="form-links">
          <button type="button" className="button-link" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </div>
    </main>
  );
}
