#include "scriptloader.h"

#include "deadline.h"

#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include <cmath>

namespace {

QString errorAt(const QString &path, int line, const QString &reason)
{
    return QStringLiteral("%1:%2: %3").arg(path).arg(line).arg(reason);
}

bool looksBinary(const QByteArray &head)
{
    return head.contains('\0');
}

} // namespace

void SubmitOverrides::applyTo(TaskSpec &spec) const
{
    if (priority)
        spec.priority = *priority;
    if (group)
        spec.group = *group;
    if (timeoutMs)
        spec.timeoutMs = *timeoutMs;
    if (retries)
        spec.retries = *retries;
    if (retryDelayMs)
        spec.retryDelayMs = *retryDelayMs;
    if (memoryBytes)
        spec.memoryBytes = *memoryBytes;
    for (const auto &arg : args) {
        auto same = [&](const auto &a) { return a.first == arg.first; };
        spec.args.erase(std::remove_if(spec.args.begin(), spec.args.end(), same), spec.args.end());
        spec.args.append(arg);
    }
}

std::optional<qint64> ScriptLoader::parseDuration(const QString &text)
{
    static const QRegularExpression re(QStringLiteral("^(\\d+(?:\\.\\d+)?)(ms|s|m|h)$"));
    const auto match = re.match(text.trimmed());
    if (!match.hasMatch())
        return std::nullopt;
    const double value = match.captured(1).toDouble();
    const QString unit = match.captured(2);
    const double scale = unit == u"ms" ? 1 : unit == u"s" ? 1e3 : unit == u"m" ? 60e3 : 3600e3;
    const double ms = value * scale;
    if (!std::isfinite(ms) || ms > double(MaxDurationMs))
        return std::nullopt;
    return qint64(std::llround(ms));
}

std::optional<qint64> ScriptLoader::parseSize(const QString &text)
{
    static const QRegularExpression re(QStringLiteral("^(\\d+(?:\\.\\d+)?)(B|KiB|MiB|GiB)$"));
    const auto match = re.match(text.trimmed());
    if (!match.hasMatch())
        return std::nullopt;
    const double value = match.captured(1).toDouble();
    const QString unit = match.captured(2);
    const double scale = unit == u"B"     ? 1
                         : unit == u"KiB" ? 1024.0
                         : unit == u"MiB" ? 1024.0 * 1024
                                          : 1024.0 * 1024 * 1024;
    const double bytes = value * scale;
    if (!std::isfinite(bytes) || bytes < 1 || bytes > 1e15)
        return std::nullopt;
    return qint64(std::llround(bytes));
}

std::optional<std::pair<QString, QString>> ScriptLoader::parseArg(const QString &text)
{
    static const QRegularExpression key(QStringLiteral("^[A-Za-z_][A-Za-z0-9_]*$"));
    const qsizetype eq = text.indexOf(u'=');
    if (eq <= 0)
        return std::nullopt;
    const QString k = text.left(eq);
    if (!key.match(k).hasMatch())
        return std::nullopt;
    return std::pair{k, text.mid(eq + 1)};
}

ScriptLoader::Result ScriptLoader::load(const QString &path)
{
    auto fail = [&](const QString &reason) {
        return Result{std::nullopt, QStringLiteral("%1: %2").arg(path, reason)};
    };

    const QFileInfo info(path);
    if (!info.exists())
        return fail(QStringLiteral("no such file"));
    if (info.isDir())
        return fail(QStringLiteral("is a directory, not a task script"));
    if (!info.isFile())
        return fail(QStringLiteral("not a regular file"));

    const bool isLua = info.suffix() == u"lua";
    if (isLua && info.size() > MaxLuaSize)
        return fail(QStringLiteral("too large for a Lua task (%1 bytes; the limit is 1 MiB)")
                        .arg(info.size()));

    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(QStringLiteral("cannot read: %1").arg(file.errorString()));
    // Lua tasks need the whole text; process tasks only their directive lines.
    const QByteArray data = isLua ? file.readAll() : file.read(64 * 1024);
    if (data.isEmpty())
        return fail(QStringLiteral("empty file"));

    TaskSpec spec;
    spec.file = info.absoluteFilePath();
    spec.name = info.fileName();
    const bool shebang = data.startsWith("#!");
    if (isLua) {
        if (looksBinary(data))
            return fail(QStringLiteral("binary data, not a Lua script"));
        spec.kind = ScriptKind::Lua;
        spec.source = data;
    } else if (shebang || info.suffix() == u"sh" || info.suffix() == u"py" || info.isExecutable()) {
        spec.kind = ScriptKind::Process;
        if (info.isExecutable())
            spec.command = {spec.file};
        else if (shebang) {
            const QByteArray line = data.left(data.indexOf('\n')).mid(2).trimmed();
            spec.command = QString::fromUtf8(line).split(u' ', Qt::SkipEmptyParts);
            if (spec.command.isEmpty())
                return Result{std::nullopt, errorAt(path, 1, QStringLiteral("empty #! line"))};
            spec.command.append(spec.file);
        } else if (info.suffix() == u"sh")
            spec.command = {QStringLiteral("sh"), spec.file};
        else
            spec.command = {QStringLiteral("python3"), spec.file};
        if (looksBinary(data) && !info.isExecutable())
            return fail(QStringLiteral("binary data without the executable bit"));
    } else {
        return fail(QStringLiteral("not a task script: expected a .lua, .sh or .py file, "
                                   "a #! line, or the executable bit"));
    }
    if (looksBinary(data))
        return Result{std::move(spec), {}}; // an executable binary: no directives

    // Directives: the leading comment lines, "@key value" after the comment marker.
    const QByteArray marker = spec.kind == ScriptKind::Lua ? "--" : "#";
    QList<QString> seen;
    int lineNo = 0;
    for (const QByteArray &raw : data.split('\n')) {
        ++lineNo;
        const QByteArray line = raw.endsWith('\r') ? raw.chopped(1) : raw;
        if (lineNo == 1 && line.startsWith("#!"))
            continue;
        const QByteArray trimmed = line.trimmed();
        if (!trimmed.startsWith(marker))
            break;
        if (spec.kind == ScriptKind::Lua && trimmed.startsWith("--[")) {
            // a long comment: not a directive line; its continuation ends the directives
            continue;
        }
        const QString body = QString::fromUtf8(trimmed.mid(marker.size())).trimmed();
        if (!body.startsWith(u'@'))
            continue;
        const qsizetype space = body.indexOf(QRegularExpression(QStringLiteral("\\s")));
        const QString key = body.mid(1, space < 0 ? -1 : space - 1);
        const QString value = space < 0 ? QString() : body.mid(space + 1).trimmed();
        auto bad = [&](const QString &reason) {
            return Result{std::nullopt, errorAt(path, lineNo, reason)};
        };
        static const QStringList known = {
            QStringLiteral("name"),    QStringLiteral("priority"), QStringLiteral("group"),
            QStringLiteral("timeout"), QStringLiteral("retries"),  QStringLiteral("retry-delay"),
            QStringLiteral("memory"),  QStringLiteral("arg"),      QStringLiteral("deadlock")};
        if (!known.contains(key))
            return bad(QStringLiteral("unknown directive @%1 (known: @%2)")
                           .arg(key, known.join(QStringLiteral(", @"))));
        if (value.isEmpty())
            return bad(QStringLiteral("@%1 needs a value").arg(key));
        if (key != u"arg") {
            if (seen.contains(key))
                return bad(QStringLiteral("@%1 given twice").arg(key));
            seen.append(key);
        }
        if (key == u"name") {
            spec.name = value;
        } else if (key == u"priority") {
            bool ok = false;
            const int p = value.toInt(&ok);
            if (!ok)
                return bad(QStringLiteral("@priority must be an integer, not \"%1\"").arg(value));
            spec.priority = p;
        } else if (key == u"group") {
            static const QRegularExpression re(QStringLiteral("^[A-Za-z0-9_.-]+$"));
            if (!re.match(value).hasMatch())
                return bad(QStringLiteral("@group must be a word of letters, digits, '_', '.' "
                                          "or '-', not \"%1\"")
                               .arg(value));
            spec.group = value;
        } else if (key == u"timeout" || key == u"retry-delay") {
            const auto ms = parseDuration(value);
            if (!ms || (key == u"timeout" && *ms <= 0))
                return bad(QStringLiteral("@%1 must be a duration of at most 365 days such as "
                                          "250ms, 30s, 5m or 2h, not \"%2\"")
                               .arg(key, value));
            (key == u"timeout" ? spec.timeoutMs : spec.retryDelayMs) = *ms;
        } else if (key == u"retries") {
            bool ok = false;
            const int n = value.toInt(&ok);
            if (!ok || n < 0)
                return bad(
                    QStringLiteral("@retries must be an integer >= 0, not \"%1\"").arg(value));
            spec.retries = n;
        } else if (key == u"memory") {
            const auto bytes = parseSize(value);
            if (!bytes)
                return bad(QStringLiteral("@memory must be a size such as 64KiB, 32MiB or 1GiB, "
                                          "not \"%1\"")
                               .arg(value));
            if (*bytes < MinMemoryBytes)
                return bad(QStringLiteral("@memory must be at least 64KiB, not \"%1\"").arg(value));
            spec.memoryBytes = *bytes;
        } else if (key == u"deadlock") { // SPEC section 9
            if (value != u"fail" && value != u"warn")
                return bad(QStringLiteral("@deadlock must be fail or warn, not \"%1\"").arg(value));
            spec.deadlockWarn = value == u"warn";
        } else if (key == u"arg") {
            const auto arg = parseArg(value);
            if (!arg)
                return bad(QStringLiteral("@arg must be key=value with a key of letters, digits "
                                          "and '_', not \"%1\"")
                               .arg(value));
            SubmitOverrides add;
            add.args.append(*arg);
            add.applyTo(spec);
        }
    }
    return Result{std::move(spec), {}};
}
