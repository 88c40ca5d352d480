import { useUser } from '../app/session.js';
import { GateCard } from '../components/GateCard.js';
import { PasswordForm } from '../components/PasswordForm.js';

/** Until the first password change the API refuses everything else, so this page is all there is. */
export function PasswordChangePage() {
  const user = useUser();
  return (
    <GateCard title="New password" heading="Choose a new password">
      <p>
        Welcome, <strong>{user.username}</strong>. Your password was set by someone else and works only once: choose your own before you continue.
      </p>
      <PasswordForm submitLabel="Save and continue" />
    </GateCard>
  );
}
