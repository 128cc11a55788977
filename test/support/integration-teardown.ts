import { failOnLeftovers, finishRun } from './run-setup';

/** globalTeardown of the integration project: fails on, then removes, what the run left behind. */
export default async function integrationTeardown(): Promise<void> {
  failOnLeftovers(await finishRun());
}
