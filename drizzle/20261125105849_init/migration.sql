CREATE TABLE `comments` (
	`id` integer PRIMARY KEY AUTOINCREMENT,
	`review_id` integer NOT NULL,
	`body` text NOT NULL,
	`author_id` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	CONSTRAINT `fk_comments_review_id_reviews_id_fk` FOREIGN KEY (`review_id`) REFERENCES `reviews`(`id`) ON DELETE CASCADE,
	CONSTRAINT `fk_comments_author_id_users_id_fk` FOREIGN KEY (`author_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`user_id` text NOT NULL,
	`key` text NOT NULL,
	`operation` text NOT NULL,
	`request_hash` text NOT NULL,
	`result_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	CONSTRAINT `idempotency_keys_pk` PRIMARY KEY(`user_id`, `key`),
	CONSTRAINT `fk_idempotency_keys_user_id_users_id_fk` FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON DELETE CASCADE
);
--> statement-breakpoint
CREATE TABLE `reviews` (
	`id` integer PRIMARY KEY AUTOINCREMENT,
	`subject` text NOT NULL,
	`rating` integer NOT NULL,
	`title` text NOT NULL,
	`body` text NOT NULL,
	`author_id` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	CONSTRAINT `fk_reviews_author_id_users_id_fk` FOREIGN KEY (`author_id`) REFERENCES `users`(`id`) ON DELETE CASCADE,
	CONSTRAINT "reviews_rating_range" CHECK("rating" between 1 and 5)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `comments_review_created_idx` ON `comments` (`review_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `comments_author_idx` ON `comments` (`author_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `reviews_subject_author_unique` ON `reviews` (`subject`,`author_id`);--> statement-breakpoint
CREATE INDEX `reviews_created_idx` ON `reviews` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `reviews_rating_idx` ON `reviews` (`rating`,`id`);--> statement-breakpoint
CREATE INDEX `reviews_subject_created_idx` ON `reviews` (`subject`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `reviews_subject_rating_idx` ON `reviews` (`subject`,`rating`,`id`);--> statement-breakpoint
CREATE INDEX `reviews_author_created_idx` ON `reviews` (`author_id`,`created_at`,`id`);