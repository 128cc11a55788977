import { encodeShortId } from '../../src/common/ids/short-id';
import { ImagePresenter } from '../../src/images/image-presenter';
import { ImagesModule } from '../../src/images/images.module';
import { killMidTransaction } from '../support/db-faults';
import { newImage, newOrganization, newUser } from '../support/factories';
import { startIntegrationModule, type IntegrationModule } from '../support/integration';

/** Killing one backend needs the PostgreSQL server (PGlite has one session and no backends). */
const onServer = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * Images as the API shows them, against a real PostgreSQL server. An upload presents its image
 * after its transaction committed: a connection lost then must not turn the upload into a 503,
 * whose client would upload the image again.
 */
onServer(ImagePresenter.name, () => {
  let m: IntegrationModule;
  let presenter: ImagePresenter;

  beforeAll(async () => {
    m = await startIntegrationModule('postgres', { imports: [ImagesModule] });
    presenter = m.get(ImagePresenter);
  });
  afterAll(() => m?.close());

  it("reads an image's uploader again on a new connection when the first is killed", async () => {
    const organization = await newOrganization(m.dataSource);
    const user = await newUser(m.dataSource, {
      organizationId: organization.id,
      fullName: 'Ada Uploader',
    });
    const image = await newImage(m.dataSource, {
      organizationId: organization.id,
      uploadedById: user.id,
    });
    // The uploader's read waits on the test's lock on users, and its backend is terminated.
    const { outcome } = await killMidTransaction(
      m.db.env.DATABASE_URL,
      'LOCK TABLE users IN ACCESS EXCLUSIVE MODE',
      /FROM "users"/,
      () => presenter.one(image),
    );
    expect(outcome).toMatchObject({
      id: encodeShortId(image.id),
      uploaded_by: {
        id: encodeShortId(user.id),
        username: user.username,
        full_name: 'Ada Uploader',
      },
    });
  });
});
