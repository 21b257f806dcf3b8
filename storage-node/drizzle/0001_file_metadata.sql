CREATE TABLE `applied_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`applied_index` integer NOT NULL,
	`live_files` integer NOT NULL,
	`live_bytes` integer NOT NULL,
	`last_hlc` text,
	CONSTRAINT "applied_state_single_row" CHECK("applied_state"."id" = 1),
	CONSTRAINT "applied_state_totals" CHECK("applied_state"."live_files" >= 0 AND "applied_state"."live_bytes" >= 0)
);
--> statement-breakpoint
CREATE TABLE `chunk_refs` (
	`hash` text PRIMARY KEY NOT NULL,
	`refcount` integer NOT NULL,
	`size` integer,
	`zero_since_ms` integer,
	CONSTRAINT "chunk_refs_refcount" CHECK("chunk_refs"."refcount" >= 0),
	CONSTRAINT "chunk_refs_zero_since" CHECK(("chunk_refs"."refcount" = 0) = ("chunk_refs"."zero_since_ms" IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX `chunk_refs_unreferenced` ON `chunk_refs` (`zero_since_ms`) WHERE refcount = 0;--> statement-breakpoint
CREATE TABLE `client_requests` (
	`request_id` text PRIMARY KEY NOT NULL,
	`result` text NOT NULL,
	`applied_index` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `client_requests_by_applied_index` ON `client_requests` (`applied_index`);--> statement-breakpoint
CREATE TABLE `file_versions` (
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`size` integer NOT NULL,
	`content_type` text NOT NULL,
	`etag` text NOT NULL,
	`chunks` text NOT NULL,
	`chunk_sizes` text,
	`hlc` text NOT NULL,
	`modified_ms` integer NOT NULL,
	PRIMARY KEY(`name`, `version`),
	CONSTRAINT "file_versions_version" CHECK("file_versions"."version" >= 1),
	CONSTRAINT "file_versions_size" CHECK("file_versions"."size" >= 0)
);
--> statement-breakpoint
CREATE TABLE `files` (
	`name` text PRIMARY KEY NOT NULL,
	`current_version` integer,
	`last_version` integer NOT NULL,
	CONSTRAINT "files_versions" CHECK("files"."last_version" >= 1 AND ("files"."current_version" IS NULL OR "files"."current_version" = "files"."last_version"))
);
--> statement-breakpoint
CREATE INDEX `files_live_by_name` ON `files` (`name`,`current_version`) WHERE current_version IS NOT NULL;