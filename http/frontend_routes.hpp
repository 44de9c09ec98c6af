#pragma once
// The routes where users meet the gateway: async jobs with server-sent events, the OpenAI Images
// API, the web page, Slack, and the expiring image URLs the last two hand out. They share a job
// store and an image store, made here once per server.

#include <memory>

#include "cluster_config/config.hpp"
#include "http/image_store.hpp"
#include "http/jobs.hpp"
#include "http/routes.hpp"

namespace muse::http {

// POST /api/v1/jobs, GET|DELETE /api/v1/jobs/{id}, GET /api/v1/jobs/{id}/events.
void add_job_routes(route_table& table, std::shared_ptr<job_store> jobs);
// GET /api/v1/images/{token}: a PNG handed out as a URL, until it expires.
void add_image_routes(route_table& table, std::shared_ptr<image_store> images);
// POST /v1/images/generations.
void add_openai_routes(route_table& table, std::shared_ptr<image_store> images);
// GET /, /app.js, /style.css: the web page, compiled into the binary.
void add_web_routes(route_table& table);
// POST /slack/commands.
void add_slack_routes(route_table& table, std::shared_ptr<image_store> images);

// All of the above, with stores sized by `config`.
void add_frontend_routes(route_table& table, const config::deployment_config& config);

}  // namespace muse::http
