/**
 * Presenters of the results layer: the tables as text (Markdown, HTML, notebook outputs), the figures of
 * the result tables, the joined `runs.arrow`, `report.html`, and the terminal summaries. Everything here
 * reads result rows; nothing computes an analysis.
 *
 * @module
 */
export * from "./tables.ts";
export * from "./markdown.ts";
export * from "./figures.ts";
export * from "./html.ts";
export * from "./sweep_report.ts";
export * from "./overview.ts";
export * from "./report_context.ts";
export * from "./report_sections.ts";
export * from "./runs_table.ts";
export * from "./summary.ts";
export * from "./warmup.ts";
