CREATE TABLE `inline_contents` (
	`hash` text PRIMARY KEY NOT NULL,
	`content` blob NOT NULL,
	`refcount` integer NOT NULL,
	CONSTRAINT "inline_contents_refcount" CHECK("inline_contents"."refcount" >= 1)
);
--> statement-breakpoint
ALTER TABLE `client_requests` ADD `fingerprint` text;