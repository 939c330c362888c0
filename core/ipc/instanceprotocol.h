#pragma once

#include "scriptloader.h"
#include "taskdependency.h"
#include "taskspec.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <variant>

// The local-socket protocol between a running Taskdeck (the dashboard) and the
// `taskdeck FILE...`, `submit`, `ps` and `cancel` commands: one JSON object per line
// (UTF-8, ended by '\n') each way. A request is {"cmd": ..., ...}; its reply is
// {"ok": true, ...} or {"ok": false, "error": "one line"}. Requests, by "cmd":
//   open    {"files": [absolute paths]} -> {"queued": N, "saved": bool, "warning"?}
//           (as a drop on the window; "warning" says why they are not saved)
//   submit  {"files": [...], "priority"?, "timeout_ms"?, "retries"?, "memory_bytes"?,
//            "args"?: ["KEY=VALUE"...], "repeat"?, "after"?: [ids], "after_ended"?: [ids],
//            "chain"?: bool} (a refused dependency: {"ok": false, "error"}, nothing queued)
//           -> {"ids": [...], "submitted": [{"file", "name", "ids"}...], "rejected": ["..."],
//               "saved": bool (on disk; false without a store, with a "warning")}; when
//               the store cannot write them: {"ok": false, "error", "saved": false, and
//               the fields above} (the tasks are queued all the same, but not saved)
//   ps      {"stacks"?: bool} -> {"tasks": [TaskJson::task + "priority", "group",
//            "progress"; with stacks: running tasks' live "stack", pending ones' "waiting"]}
//   cancel  {"ids": [...]} -> {"cancelled": [ids], "finished": [{"id", "state"}],
//            "unknown": [ids]}
// Keys a command does not know are ignored. Pure functions; any thread.
namespace InstanceProtocol {

// A request line (without its '\n') longer than this is refused and its connection closed.
constexpr qsizetype MaxRequestBytes = 1024 * 1024;
// Most tasks one submit may create (files x repeat).
constexpr qint64 MaxTasksPerSubmit = 1000000;

enum class Command { Open, Submit, Ps, Cancel };

// A request that parsed and validated: every field the command needs is present and
// of the right type. Fields of other commands are left empty.
struct Request
{
    Command command = Command::Ps;
    QStringList files;              // open, submit: absolute paths (open: may be empty)
    SubmitOverrides overrides;      // submit: priority, timeout, retries, memory, args
    int repeat = 1;                 // submit: tasks per file
    DependencyOptions dependencies; // submit: --after, --after-ended, --chain
    bool stacks = false;            // ps: with each task's stack
    QList<TaskId> ids;              // cancel: at least one
};

// The request's JSON, as a client sends it (without the line end).
QJsonObject toJson(const Request &request);
// Parses one line (without its '\n'): the request, or a one-line reason it is refused.
std::variant<Request, QString> parse(const QByteArray &line);

// {"ok": true, ...fields}
QJsonObject ok(QJsonObject fields = {});
// {"ok": false, "error": message}
QJsonObject error(const QString &message);
// The object as one compact line, '\n' included.
QByteArray line(const QJsonObject &object);

// The canonical form of a data directory, also when it does not exist yet: the
// canonical path of its nearest existing ancestor, with the rest appended.
QString canonicalDataDir(const QString &dataDir);

// The local socket of the instance owning `dataDir`: a path in a directory only this
// user can enter ($XDG_RUNTIME_DIR, else <temp>/taskdeck-<uid>, made 0700), named
// "taskdeck-<uid>-<first 12 hex of sha1(canonical data dir)>". Empty, with `errorText`
// set, when no such private directory can be had.
QString serverName(const QString &dataDir, QString *errorText = nullptr);

} // namespace InstanceProtocol
