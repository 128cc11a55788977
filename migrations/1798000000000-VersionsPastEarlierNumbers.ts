import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Product and gallery versions renumbered past any number a product counted before migration
 * 1797800000000. That migration started its sequence at 1, and before it each product counted its
 * own from 1 (its gallery from 0), so a renumbered product could get a number an ETag read before
 * the upgrade already named, of a state changed since: `If-Match: "p2"` held across the upgrade
 * matched the product renumbered 2, and a stale edit landed (found by a review helper). Those
 * numbers were `integer`s: past 2^31 - 1, no earlier number can come again. Renumbering once more
 * also makes the ETags handed out since 1797800000000 stale: each answers 412 once, the safe
 * direction.
 */
export class VersionsPastEarlierNumbers1798000000000 implements MigrationInterface {
  name = 'VersionsPastEarlierNumbers1798000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `SELECT setval('entity_versions', GREATEST(2147483647, (SELECT last_value FROM entity_versions)))`,
    );
    // As in 1797800000000: a change of the product's own fields (the trigger's WHEN) is not one
    // of these, so renumbering fires nothing.
    await queryRunner.query(`
      UPDATE "products"
         SET "version" = nextval('entity_versions'), "gallery_version" = nextval('entity_versions')`);
  }

  public async down(): Promise<void> {
    // Nothing to undo: the numbers stay valid versions, never handed out twice.
  }
}
