import { logout } from '@sdk';
import { unwrap } from './api';
import { endSession } from './session';
import { forgetKeptUploads } from './uploads';

/**
 * The person logs out: the service ends the session's token (and their other tabs'), this tab
 * forgets it whatever the answer, and the files they queued that the service never took. The
 * login page then says `reason`; the address stays (the caller may lead elsewhere).
 */
export function logOut(reason = 'You have logged out.'): void {
  void unwrap(logout()).catch(() => undefined);
  forgetKeptUploads();
  endSession(reason);
}
