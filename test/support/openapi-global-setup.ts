import { clearResults } from './openapi-recorder';
import { generateSdk } from './sdk';

/** globalSetup of the e2e project: forget the last run's response records; generate the SDK. */
export default function openApiGlobalSetup(): void {
  clearResults();
  generateSdk();
}
