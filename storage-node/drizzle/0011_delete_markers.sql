ALTER TABLE `buckets` ADD `versioning` text DEFAULT 'Enabled' NOT NULL;--> statement-breakpoint
ALTER TABLE `file_versions` ADD `delete_marker` integer DEFAULT false NOT NULL;