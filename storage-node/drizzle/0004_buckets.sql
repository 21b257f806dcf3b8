CREATE TABLE `buckets` (
	`name` text PRIMARY KEY NOT NULL,
	`created_ms` integer NOT NULL
);
