import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The queue's retry policy as the service defined it when this ran (FILE_DELETION_RETRY). */
const QUEUE = 'file-deletion';
const OPTIONS = {
  policy: 'standard',
  retryLimit: 20,
  retryDelay: 30,
  retryBackoff: true,
  retryDelayMax: 6 * 3600,
  expireInSeconds: 15 * 60,
};
/** Keys per job, as the service sends them. */
const KEYS_PER_JOB = 100;
const NOT_DONE = `('created', 'retry', 'active', 'failed')`;

/**
 * File deletions move from their own outbox table (`storage_deletions`, with its own timer and
 * back-off) onto the job queue (issue 18): the `file-deletion` queue is created with the
 * service's retry policy, the pending rows become its jobs (a hundred keys each, due now: their
 * back-off restarts from the queue's), and the table goes. pg-boss's schema is there since
 * 1796200000000.
 */
export class FileDeletionQueue1796300000000 implements MigrationInterface {
  name = 'FileDeletionQueue1796300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`SELECT pgboss.create_queue($1, $2::jsonb)`, [
      QUEUE,
      JSON.stringify(OPTIONS),
    ]);
    await queryRunner.query(
      `INSERT INTO pgboss.job (name, data, policy, retry_limit, retry_delay, retry_backoff,
                               retry_delay_max, expire_seconds, deletion_seconds, keep_until,
                               created_on, start_after)
       SELECT q.name, jsonb_build_object('keys', b.keys), q.policy, q.retry_limit,
              q.retry_delay, q.retry_backoff, q.retry_delay_max, q.expire_seconds,
              q.deletion_seconds, now() + q.retention_seconds * interval '1 second', now(), now()
         FROM (SELECT jsonb_agg(key ORDER BY n) AS keys
                 FROM (SELECT key, row_number() OVER (ORDER BY min(created_at), key) AS n
                         FROM storage_deletions GROUP BY key) AS d
                GROUP BY (n - 1) / $2) AS b
        CROSS JOIN pgboss.queue AS q
        WHERE q.name = $1`,
      [QUEUE, KEYS_PER_JOB],
    );
    await queryRunner.query(`DROP TABLE "storage_deletions"`);
  }

  /** The outbox again, holding the keys of the queue's jobs not done yet; the queue goes. */
  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
            CREATE TABLE "storage_deletions" (
                "id" uuid NOT NULL DEFAULT gen_random_uuid(),
                "key" character varying(512) NOT NULL,
                "attempts" integer NOT NULL DEFAULT '0',
                "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                "last_error" character varying(500),
                "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
                CONSTRAINT "PK_0f4ad92143fb36dadad7c5b8717" PRIMARY KEY ("id")
            )
        `);
    await queryRunner.query(
      `CREATE INDEX "IDX_storage_deletions_due" ON "storage_deletions" ("next_attempt_at")`,
    );
    await queryRunner.query(
      `INSERT INTO storage_deletions (key)
       SELECT DISTINCT jsonb_array_elements_text(data -> 'keys') FROM pgboss.job
        WHERE name = $1 AND state IN ${NOT_DONE}`,
      [QUEUE],
    );
    await queryRunner.query(`SELECT pgboss.delete_queue($1)`, [QUEUE]);
  }
}
