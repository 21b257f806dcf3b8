CREATE TABLE `raft_hard_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`term` integer NOT NULL,
	`vote` text,
	`commit` integer NOT NULL,
	CONSTRAINT "raft_hard_state_single_row" CHECK("raft_hard_state"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE `raft_log` (
	`index` integer PRIMARY KEY NOT NULL,
	`term` integer NOT NULL,
	`type` text NOT NULL,
	`data` text NOT NULL,
	CONSTRAINT "raft_log_type" CHECK("raft_log"."type" IN ('normal', 'noop', 'config'))
);
--> statement-breakpoint
CREATE TABLE `raft_snapshot` (
	`id` integer PRIMARY KEY NOT NULL,
	`index` integer NOT NULL,
	`term` integer NOT NULL,
	`membership` text NOT NULL,
	CONSTRAINT "raft_snapshot_single_row" CHECK("raft_snapshot"."id" = 1)
);
