/** Steps the browser suites share. */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { WatchedPage } from './browser.js';

export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

export async function changeFirstPassword(page: Page, current: string, next: string): Promise<void> {
  await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  await page.getByLabel('Current password').fill(current);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(next);
  await page.getByRole('button', { name: 'Save and continue' }).click();
}

export function expectClean(w: WatchedPage): void {
  expect(w.cspViolations, 'CSP violations').toEqual([]);
  expect(w.pageErrors, 'uncaught page errors').toEqual([]);
  expect(w.dialogs, 'JavaScript dialogs').toEqual([]);
}
