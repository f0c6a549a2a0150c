// The new-group dialog against a server with small limits: too many members
// is a general error (not one about the name), a name over max_room_name is
// shown under the name field, and a refusal of room_create_per_hour says
// what failed and when to try again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, newPage, registerUI, startGroup, uniqueName, assertNoErrors, apiRegister,
} from './helpers.mjs';

let server;
let browser;
before(async () => {
  server = await startServer(['--set', 'max_group_members=3', '--set', 'max_room_name=12',
    '--set', 'room_create_per_hour=2']);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// Fills the new-group dialog and submits; returns the error texts once one shows.
async function failGroup(page, name, members) {
  await page.click('#btn-new');
  await page.getByRole('tab', { name: 'Group' }).click();
  await page.fill('#new-name', name);
  await page.fill('#new-members', members.join(', '));
  await page.click('#new-submit');
  await page.waitForFunction(() => ['err-new-name', 'err-new-members', 'err-new-form']
    .some((id) => document.getElementById(id).textContent !== ''));
  const errs = await page.evaluate(() => ({
    name: document.getElementById('err-new-name').textContent,
    form: document.getElementById('err-new-form').textContent,
  }));
  await page.click('#new-cancel');
  return errs;
}

test('new group: too many members, a long name, too many new groups', async () => {
  const others = [uniqueName('lim'), uniqueName('lim'), uniqueName('lim')];
  for (const u of others) await apiRegister(server.base, u);
  const { context, page } = await newPage(browser, server.base);
  try {
    await registerUI(page, uniqueName('limc'));
    // Four people with the creator: over max_group_members, with a name typed.
    let errs = await failGroup(page, 'Team', others);
    assert.equal(errs.name, '');
    assert.equal(errs.form, 'Creating the group failed: too many members for one group');
    errs = await failGroup(page, 'A name far too long', [others[0]]);
    assert.equal(errs.name, 'That name is too long.');
    assert.equal(errs.form, '');
    // Two new groups an hour: the third is refused until the bucket refills.
    await startGroup(page, 'One', [others[0]]);
    await startGroup(page, 'Two', [others[1]]);
    errs = await failGroup(page, 'Three', [others[2]]);
    assert.equal(errs.name, '');
    assert.match(errs.form, /^Creating the group failed: too many new rooms; try again in \d+ s$/);
    assertNoErrors(page);
  } finally {
    await context.close();
  }
});
