PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_files` (
	`name` text PRIMARY KEY NOT NULL,
	`current_version` integer,
	`last_version` integer NOT NULL,
	CONSTRAINT "files_versions" CHECK("__new_files"."last_version" >= 1 AND ("__new_files"."current_version" IS NULL OR ("__new_files"."current_version" >= 1 AND "__new_files"."current_version" <= "__new_files"."last_version")))
);
--> statement-breakpoint
INSERT INTO `__new_files`("name", "current_version", "last_version") SELECT "name", "current_version", "last_version" FROM `files`;--> statement-breakpoint
DROP TABLE `files`;--> statement-breakpoint
ALTER TABLE `__new_files` RENAME TO `files`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `files_live_by_name` ON `files` (`name`,`current_version`) WHERE current_version IS NOT NULL;