ALTER TABLE `file_versions` ADD `headers` text;--> statement-breakpoint
ALTER TABLE `file_versions` ADD `part_sizes` text;--> statement-breakpoint
ALTER TABLE `multipart_uploads` ADD `headers` text;