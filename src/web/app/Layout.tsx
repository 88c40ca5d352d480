import type { ReactNode } from 'react';
import { Link, navigate, usePath } from './router.js';
import { roleAtLeast, useSession, useUser } from './session.js';

interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
}

const NAV: NavItem[] = [
  { to: '/', label: 'Overview' },
  { to: '/admin/enrollment', label: 'Enrollment', admin: true },
  { to: '/admin/agents', label: 'Agents', admin: true },
  { to: '/admin/users', label: 'Users', admin: true },
  { to: '/admin/audit', label: 'Audit log', admin: true },
  { to: '/admin/security', label: 'Security', admin: true },
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
  const items = NAV.filter((item) => !item.admin || roleAtLeast(user.role, 'admin'));
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
