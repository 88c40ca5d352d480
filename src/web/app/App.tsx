import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import type { Role } from '../api/types.js';
import { ReauthPrompt } from '../components/ReauthPrompt.js';
import { Loading } from '../components/States.js';
import { LoginPage } from '../pages/LoginPage.js';
import { NotFoundPage } from '../pages/NotFoundPage.js';
import { OverviewPage } from '../pages/overview/OverviewPage.js';
import { MfaSetupPage } from '../pages/MfaSetupPage.js';
import { PasswordChangePage } from '../pages/PasswordChangePage.js';
import { Layout } from './Layout.js';
import { matchRoute, usePath, type Route } from './router.js';
import { roleAtLeast, SessionProvider, useSession, useUser } from './session.js';

// Pages beyond the overview load on demand, keeping the first page small (charts pull in uPlot).
const MachinePage = lazy(() => import('../pages/machine/MachinePage.js').then((m) => ({ default: m.MachinePage })));
const EnrollmentPage = lazy(() => import('../pages/admin/EnrollmentPage.js').then((m) => ({ default: m.EnrollmentPage })));
const AgentsPage = lazy(() => import('../pages/admin/AgentsPage.js').then((m) => ({ default: m.AgentsPage })));
const UsersPage = lazy(() => import('../pages/admin/UsersPage.js').then((m) => ({ default: m.UsersPage })));
const AuditPage = lazy(() => import('../pages/admin/AuditPage.js').then((m) => ({ default: m.AuditPage })));
const SecurityPage = lazy(() => import('../pages/admin/SecurityPage.js').then((m) => ({ default: m.SecurityPage })));
const CommandsPage = lazy(() => import('../pages/commands/CommandsPage.js').then((m) => ({ default: m.CommandsPage })));
const CommandDetailPage = lazy(() => import('../pages/commands/CommandDetailPage.js').then((m) => ({ default: m.CommandDetailPage })));
const AccountPage = lazy(() => import('../pages/AccountPage.js').then((m) => ({ default: m.AccountPage })));

const TITLES: Record<Route['name'], string> = {
  overview: 'Fleet overview',
  machine: 'Machine',
  commands: 'Commands',
  command: 'Command request',
  enrollment: 'Enrollment tokens',
  agents: 'Agents',
  users: 'Users',
  audit: 'Audit log',
  security: 'Security',
  account: 'My account',
  'not-found': 'Not found',
};

function RequireRole({ role, children }: { role: Role; children: ReactNode }) {
  const user = useUser();
  if (roleAtLeast(user.role, role)) return <>{children}</>;
  return (
    <section className="page">
      <h1>Not allowed</h1>
      <p role="alert">This page is for the {role} role and above; you are signed in as a {user.role}.</p>
    </section>
  );
}

function page(route: Route): ReactNode {
  switch (route.name) {
    case 'overview':
      return <OverviewPage />;
    case 'machine':
      return <MachinePage key={route.id} id={route.id} />;
    case 'commands':
      return <CommandsPage />;
    case 'command':
      return <CommandDetailPage key={route.id} id={route.id} />;
    case 'enrollment':
      return (
        <RequireRole role="admin">
          <EnrollmentPage />
        </RequireRole>
      );
    case 'agents':
      return (
        <RequireRole role="admin">
          <AgentsPage />
        </RequireRole>
      );
    case 'users':
      return (
        <RequireRole role="admin">
          <UsersPage />
        </RequireRole>
      );
    case 'audit':
      return (
        <RequireRole role="admin">
          <AuditPage />
        </RequireRole>
      );
    case 'security':
      return (
        <RequireRole role="admin">
          <SecurityPage />
        </RequireRole>
      );
    case 'account':
      return <AccountPage />;
    case 'not-found':
      return <NotFoundPage />;
  }
}

function Pages() {
  const path = usePath();
  const route = matchRoute(path);
  useEffect(() => {
    document.title = `${TITLES[route.name]} · Flotilla`;
  }, [route.name]);
  return (
    <Layout>
      <Suspense fallback={<Loading label="Loading page…" />}>{page(route)}</Suspense>
    </Layout>
  );
}

function Gate() {
  const { state } = useSession();
  if (state.kind === 'loading') return <Loading label="Starting Flotilla…" />;
  if (state.kind === 'anonymous') return <LoginPage notice={state.notice} />;
  if (state.user.passwordChangeRequired) return <PasswordChangePage />;
  if (state.mfaSetupRequired) return <MfaSetupPage />;
  return <Pages />;
}

export function App() {
  return (
    <SessionProvider>
      <Gate />
      <ReauthPrompt />
    </SessionProvider>
  );
}
