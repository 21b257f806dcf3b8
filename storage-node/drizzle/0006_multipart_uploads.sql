CREATE TABLE `multipart_parts` (
	`upload_id` text NOT NULL,
	`part_number` integer NOT NULL,
	`size` integer NOT NULL,
	`md5` text NOT NULL,
	`sha256` text NOT NULL,
	`chunks` text NOT NULL,
	`chunk_sizes` text NOT NULL,
	`modified_ms` integer NOT NULL,
	PRIMARY KEY(`upload_id`, `part_number`),
	CONSTRAINT "multipart_parts_number" CHECK("multipart_parts"."part_number" >= 1 AND "multipart_parts"."part_number" <= 10000),
	CONSTRAINT "multipart_parts_size" CHECK("multipart_parts"."size" >= 0)
);
--> statement-breakpoint
CREATE TABLE `multipart_uploads` (
	`upload_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`bucket` text NOT NULL,
	`content_type` text NOT NULL,
	`created_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `multipart_uploads_by_name` ON `multipart_uploads` (`name`,`upload_id`);--> statement-breakpoint
CREATE INDEX `multipart_uploads_by_created` ON `multipart_uploads` (`created_ms`,`upload_id`);