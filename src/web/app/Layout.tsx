import type { ReactNode } from 'react';
import type { Role } from '../api/types.js';
import { Link, navigate, usePath } from './router.js';
import { roleAtLeast, useSession, useUser } from './session.js';

interface NavItem {
  to: string;
  label: string;
  /** The least role the entry is offered to; everyone when absent. */
  role?: Role;
}

const NAV: NavItem[] = [
  { to: '/', label: 'Overview' },
  { to: '/commands', label: 'Commands', role: 'operator' },
  { to: '/admin/enrollment', label: 'Enrollment', role: 'admin' },
  { to: '/admin/agents', label: 'Agents', role: 'admin' },
  { to: '/admin/users', label: 'Users', role: 'admin' },
  { to: '/admin/audit', label: 'Audit log', role: 'admin' },
  { to: '/admin/security', label: 'Security', role: 'admin' },
  { to: '/account', label: 'My account' },
];

function isCurrent(path: string, to: string): boolean {
  return to === '/' ? path === '/' || path.startsWith('/machines/') : path.startsWith(to);
}

/** Header, navigation and the main landmark every signed-in page shares. */
export function Layout({ children }: { children: ReactNode }) {
  const user = useUser();
  const { logout } = useSession();
  const path = usePath();
  const items = NAV.filter((item) => !item.role || roleAtLeast(user.role, item.role));
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Flotilla
        </Link>
        <nav aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={isCurrent(path, item.to) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="whoami">
          <span>
            {user.username} <span className="role">({user.role})</span>
          </span>
          <button
            type="button"
            onClick={() => {
              // The next person to sign in on this browser starts at the overview, not on this user's page.
              void logout().then(() => navigate('/', { replace: true }));
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
