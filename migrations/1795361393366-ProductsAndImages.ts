import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class ProductsAndImages1795361393366 implements MigrationInterface {
  name = 'ProductsAndImages1795361393366';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            CREATE TABLE "products" (
                "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                "organization_id" uuid NOT NULL,
                "name" character varying(200) NOT NULL,
                "slug" character varying(100) NOT NULL,
                "gtin" character(14),
                "description" text NOT NULL DEFAULT '',
                "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_0806c755e0aca124e67c0cf6d7d" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "IDX_products_organization_created" ON "products" ("organization_id", "created_at", "id")
        `);
    await queryRunner.query(`
            CREATE UNIQUE INDEX "UQ_products_organization_gtin" ON "products" ("organization_id", "gtin")
            WHERE "gtin" IS NOT NULL
        `);
    await queryRunner.query(`
            CREATE UNIQUE INDEX "UQ_products_organization_slug" ON "products" ("organization_id", "slug")
        `);
    await queryRunner.query(`
            CREATE TABLE "images" (
                "id" uuid NOT NULL,
                "organization_id" uuid NOT NULL,
                "product_id" uuid,
                "purpose" character varying(16) NOT NULL DEFAULT 'product',
                "title" character varying(255) NOT NULL DEFAULT '',
                "alt_text" character varying(1000) NOT NULL DEFAULT '',
                "is_primary" boolean NOT NULL DEFAULT false,
                "priority" integer NOT NULL DEFAULT '0',
                "original_filename" character varying(255) NOT NULL DEFAULT '',
                "format" character varying(16) NOT NULL,
                "mime_type" character varying(64) NOT NULL,
                "width" integer NOT NULL,
                "height" integer NOT NULL,
                "size" integer NOT NULL,
                "color_mode" character varying(16) NOT NULL,
                "has_alpha" boolean NOT NULL,
                "sha256" character(64) NOT NULL,
                "storage_key" character varying(512) NOT NULL,
                "renditions" jsonb NOT NULL DEFAULT '{}',
                "uploaded_by" uuid,
                "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                "updated_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "CHK_images_purpose" CHECK (
                    "purpose" IN ('product', 'account', 'user', 'category')
                ),
                CONSTRAINT "CHK_images_priority" CHECK ("priority" >= 0),
                CONSTRAINT "PK_1fe148074c6a1a91b63cb9ee3c9" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(`
            CREATE INDEX "IDX_images_organization_id" ON "images" ("organization_id")
        `);
    await queryRunner.query(`
            CREATE INDEX "IDX_images_gallery_order" ON "images" (
                "product_id",
                "is_primary",
                "priority",
                "created_at"
            )
        `);
    await queryRunner.query(`
            CREATE UNIQUE INDEX "UQ_images_one_primary_per_product" ON "images" ("product_id")
            WHERE "is_primary"
        `);
    await queryRunner.query(`
            ALTER TABLE "products"
            ADD CONSTRAINT "FK_products_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION
        `);
    await queryRunner.query(`
            ALTER TABLE "images"
            ADD CONSTRAINT "FK_images_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION
        `);
    await queryRunner.query(`
            ALTER TABLE "images"
            ADD CONSTRAINT "FK_images_product" FOREIGN KEY ("product_id") REFERENCES "products"("id") ON DELETE CASCADE ON UPDATE NO ACTION
        `);
    await queryRunner.query(`
            ALTER TABLE "images"
            ADD CONSTRAINT "FK_images_uploaded_by" FOREIGN KEY ("uploaded_by") REFERENCES "users"("id") ON DELETE
            SET NULL ON UPDATE NO ACTION
        `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            ALTER TABLE "images" DROP CONSTRAINT "FK_images_uploaded_by"
        `);
    await queryRunner.query(`
            ALTER TABLE "images" DROP CONSTRAINT "FK_images_product"
        `);
    await queryRunner.query(`
            ALTER TABLE "images" DROP CONSTRAINT "FK_images_organization"
        `);
    await queryRunner.query(`
            ALTER TABLE "products" DROP CONSTRAINT "FK_products_organization"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."UQ_images_one_primary_per_product"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."IDX_images_gallery_order"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."IDX_images_organization_id"
        `);
    await queryRunner.query(`
            DROP TABLE "images"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."UQ_products_organization_slug"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."UQ_products_organization_gtin"
        `);
    await queryRunner.query(`
            DROP INDEX "public"."IDX_products_organization_created"
        `);
    await queryRunner.query(`
            DROP TABLE "products"
        `);
  }
}
