#pragma once

#include "taskspec.h"

#include <QString>

#include <optional>

// Submit-time overrides of a script's directives (CLI options, GUI fields).
struct SubmitOverrides
{
    std::optional<int> priority;
    std::optional<QString> group;
    std::optional<qint64> timeoutMs;
    std::optional<int> retries;
    std::optional<qint64> retryDelayMs;
    std::optional<qint64> memoryBytes;
    QList<std::pair<QString, QString>> args; // added after the script's, same key replaces

    void applyTo(TaskSpec &spec) const;
};

// Reads a task script: decides its kind and parses its directives (SPEC section 1).
// Pure functions of the file; safe on any thread.
class ScriptLoader
{
public:
    struct Result
    {
        std::optional<TaskSpec> spec;
        QString error; // "file:line: reason" or "file: reason" when spec is empty
    };

    static constexpr qint64 MaxLuaSize = 1024 * 1024;
    // The smallest @memory (--memory, memory_bytes) accepted: below it a Lua task cannot
    // even start its main chunk, nor a process map its program.
    static constexpr qint64 MinMemoryBytes = 64 * 1024;

    // `path` is shown in errors as given; the spec holds the absolute path.
    static Result load(const QString &path);

    // "250ms", "30s", "5m", "2h" (decimals allowed): milliseconds, or nullopt (also when
    // longer than MaxDurationMs, 365 days).
    static std::optional<qint64> parseDuration(const QString &text);
    // "512B", "64KiB", "32MiB", "1GiB": bytes, or nullopt.
    static std::optional<qint64> parseSize(const QString &text);
    // "key=value" with key [A-Za-z_][A-Za-z0-9_]*
    static std::optional<std::pair<QString, QString>> parseArg(const QString &text);
};
