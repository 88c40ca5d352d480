import { useSession, useUser } from '../app/session.js';
import { GateCard } from '../components/GateCard.js';
import { TotpSetup } from '../components/TotpSetup.js';

/** Admins must have a second factor before the API lets them do anything else (security.requireMfaForAdmins). */
export function MfaSetupPage() {
  const user = useUser();
  const { finishMfaSetup } = useSession();
  return (
    <GateCard title="Two-step verification" heading="Set up two-step verification" wide>
      <p>
        <strong>{user.username}</strong>, this server requires administrators to sign in with a second factor. Set one up to continue.
      </p>
      <TotpSetup onDone={finishMfaSetup} />
    </GateCard>
  );
}
