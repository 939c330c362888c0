#include "instanceprotocol.h"

#include "../deadline.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace InstanceProtocol {

namespace {

const QString &commandName(Command command)
{
    static const QString names[] = {QStringLiteral("open"), QStringLiteral("submit"),
                                    QStringLiteral("ps"), QStringLiteral("cancel")};
    return names[int(command)];
}

// An integral JSON number in [min, max], or nullopt.
std::optional<qint64> integer(const QJsonValue &value, qint64 min, qint64 max)
{
    if (!value.isDouble())
        return std::nullopt;
    const double d = value.toDouble();
    if (!std::isfinite(d) || d != std::floor(d) || d < double(min) || d > double(max))
        return std::nullopt;
    return qint64(d);
}

// Reads optional integer `key` of `object` into `out`; false (with `why` set) if present
// but not an integer in range.
template <typename T>
bool optionalInteger(const QJsonObject &object, const QString &key, qint64 min, qint64 max,
                     std::optional<T> &out, QString &why)
{
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull())
        return true;
    const auto n = integer(value, min, max);
    if (!n) {
        why = QStringLiteral("\"%1\" must be an integer from %2 to %3").arg(key).arg(min).arg(max);
        return false;
    }
    out = T(*n);
    return true;
}

bool readFiles(const QJsonObject &object, bool allowEmpty, QStringList &files, QString &why)
{
    const QJsonValue value = object.value(QStringLiteral("files"));
    why = allowEmpty ? QStringLiteral("\"files\" must be an array of absolute paths")
                     : QStringLiteral("\"files\" must be a non-empty array of absolute paths");
    if (!value.isArray())
        return false;
    const QJsonArray array = value.toArray();
    if (array.isEmpty() && !allowEmpty)
        return false;
    for (const QJsonValue &file : array) {
        const QString path = file.toString();
        if (!file.isString() || path.isEmpty() || path.contains(QChar(0)) ||
            !QDir::isAbsolutePath(path))
            return false;
        files.append(path);
    }
    return true;
}

// An optional array of task ids ("after", "after_ended") into `ids`; false (and `why`)
// when it is not one.
bool optionalIds(const QJsonObject &object, const QString &key, QList<TaskId> &ids, QString &why)
{
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull())
        return true;
    why = QStringLiteral("\"%1\" must be an array of task ids").arg(key);
    if (!value.isArray())
        return false;
    for (const QJsonValue &id : value.toArray()) {
        const auto n = integer(id, 1, qint64(1) << 53);
        if (!n)
            return false;
        if (!ids.contains(TaskId(*n)))
            ids.append(TaskId(*n));
    }
    return true;
}

std::variant<Request, QString> parseObject(const QJsonObject &object)
{
    const QJsonValue cmd = object.value(QStringLiteral("cmd"));
    if (!cmd.isString())
        return QStringLiteral("\"cmd\" must be a string: open, submit, ps or cancel");
    Request request;
    QString why;
    const QString name = cmd.toString();
    if (name == u"open") {
        request.command = Command::Open;
        if (!readFiles(object, true, request.files, why))
            return why;
    } else if (name == u"submit") {
        request.command = Command::Submit;
        if (!readFiles(object, false, request.files, why))
            return why;
        SubmitOverrides &o = request.overrides;
        std::optional<int> repeat;
        if (!optionalInteger(object, QStringLiteral("priority"), INT_MIN, INT_MAX, o.priority,
                             why) ||
            !optionalInteger(object, QStringLiteral("timeout_ms"), 1, MaxDurationMs, o.timeoutMs,
                             why) ||
            !optionalInteger(object, QStringLiteral("retries"), 0, INT_MAX, o.retries, why) ||
            !optionalInteger(object, QStringLiteral("memory_bytes"), ScriptLoader::MinMemoryBytes,
                             qint64(1e15), o.memoryBytes, why) ||
            !optionalInteger(object, QStringLiteral("repeat"), 1, MaxTasksPerSubmit, repeat, why))
            return why;
        request.repeat = repeat.value_or(1);
        DependencyOptions &dependencies = request.dependencies;
        if (!optionalIds(object, QStringLiteral("after"), dependencies.after, why) ||
            !optionalIds(object, QStringLiteral("after_ended"), dependencies.afterEnded, why))
            return why;
        const QJsonValue chain = object.value(QStringLiteral("chain"));
        if (!chain.isUndefined() && !chain.isBool())
            return QStringLiteral("\"chain\" must be true or false");
        dependencies.chain = chain.toBool();
        if (qint64(request.repeat) * request.files.size() > MaxTasksPerSubmit)
            return QStringLiteral("at most %1 tasks per submit").arg(MaxTasksPerSubmit);
        const QJsonValue args = object.value(QStringLiteral("args"));
        if (!args.isUndefined() && !args.isNull()) {
            if (!args.isArray())
                return QStringLiteral("\"args\" must be an array of \"KEY=VALUE\" strings");
            for (const QJsonValue &arg : args.toArray()) {
                const auto parsed =
                    arg.isString() ? ScriptLoader::parseArg(arg.toString()) : std::nullopt;
                if (!parsed)
                    return QStringLiteral("\"args\" must be an array of \"KEY=VALUE\" strings");
                o.args.append(*parsed);
            }
        }
    } else if (name == u"ps") {
        request.command = Command::Ps;
        const QJsonValue stacks = object.value(QStringLiteral("stacks"));
        if (!stacks.isUndefined() && !stacks.isBool())
            return QStringLiteral("\"stacks\" must be true or false");
        request.stacks = stacks.toBool();
    } else if (name == u"cancel") {
        request.command = Command::Cancel;
        const QJsonValue ids = object.value(QStringLiteral("ids"));
        const QString bad = QStringLiteral("\"ids\" must be a non-empty array of task ids");
        if (!ids.isArray() || ids.toArray().isEmpty())
            return bad;
        for (const QJsonValue &id : ids.toArray()) {
            const auto n = integer(id, 1, qint64(1) << 53);
            if (!n)
                return bad;
            request.ids.append(TaskId(*n));
        }
    } else {
        QString shown = name.left(40);
        shown.replace(QRegularExpression(QStringLiteral("[^ -~]")), QStringLiteral("?"));
        return QStringLiteral("unknown command \"%1\" (known: open, submit, ps, cancel)")
            .arg(shown);
    }
    return request;
}

// A directory only this user can use: exists, is not a symlink, is owned by us and
// grants nothing to group or others.
bool isPrivateDirectory(const QByteArray &path)
{
    struct stat st;
    return ::lstat(path.constData(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() &&
           (st.st_mode & 077) == 0;
}

QString privateSocketDirectory(QString *errorText)
{
    const QByteArray runtime = qgetenv("XDG_RUNTIME_DIR");
    if (!runtime.isEmpty() && runtime.startsWith('/') && isPrivateDirectory(runtime))
        return QString::fromLocal8Bit(runtime);
    const QString dir = QDir::tempPath() + QStringLiteral("/taskdeck-%1").arg(::getuid());
    const QByteArray local = QFile::encodeName(dir);
    if (::mkdir(local.constData(), 0700) != 0 && errno != EEXIST) {
        if (errorText)
            *errorText = QStringLiteral("cannot make %1: %2")
                             .arg(dir, QString::fromLocal8Bit(std::strerror(errno)));
        return {};
    }
    if (!isPrivateDirectory(local)) {
        if (errorText)
            *errorText = QStringLiteral("%1 is not a directory private to this user").arg(dir);
        return {};
    }
    return dir;
}

} // namespace

QJsonObject toJson(const Request &request)
{
    QJsonObject object{{QStringLiteral("cmd"), commandName(request.command)}};
    switch (request.command) {
    case Command::Open:
    case Command::Submit:
        object.insert(QStringLiteral("files"), QJsonArray::fromStringList(request.files));
        break;
    case Command::Ps:
        object.insert(QStringLiteral("stacks"), request.stacks);
        break;
    case Command::Cancel: {
        QJsonArray ids;
        for (TaskId id : request.ids)
            ids.append(qint64(id));
        object.insert(QStringLiteral("ids"), ids);
        break;
    }
    }
    if (request.command != Command::Submit)
        return object;
    const SubmitOverrides &o = request.overrides;
    if (o.priority)
        object.insert(QStringLiteral("priority"), *o.priority);
    if (o.timeoutMs)
        object.insert(QStringLiteral("timeout_ms"), *o.timeoutMs);
    if (o.retries)
        object.insert(QStringLiteral("retries"), *o.retries);
    if (o.memoryBytes)
        object.insert(QStringLiteral("memory_bytes"), *o.memoryBytes);
    if (!o.args.isEmpty()) {
        QJsonArray args;
        for (const auto &[key, value] : o.args)
            args.append(key + u'=' + value);
        object.insert(QStringLiteral("args"), args);
    }
    if (request.repeat != 1)
        object.insert(QStringLiteral("repeat"), request.repeat);
    const auto idsArray = [](const QList<TaskId> &ids) {
        QJsonArray array;
        for (TaskId id : ids)
            array.append(qint64(id));
        return array;
    };
    const DependencyOptions &dependencies = request.dependencies;
    if (!dependencies.after.isEmpty())
        object.insert(QStringLiteral("after"), idsArray(dependencies.after));
    if (!dependencies.afterEnded.isEmpty())
        object.insert(QStringLiteral("after_ended"), idsArray(dependencies.afterEnded));
    if (dependencies.chain)
        object.insert(QStringLiteral("chain"), true);
    return object;
}

std::variant<Request, QString> parse(const QByteArray &line)
{
    if (line.size() > MaxRequestBytes)
        return QStringLiteral("request longer than 1 MiB");
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(line, &error);
    if (error.error != QJsonParseError::NoError)
        return QStringLiteral("not JSON: %1 at offset %2")
            .arg(error.errorString())
            .arg(error.offset);
    if (!document.isObject())
        return QStringLiteral("a request must be a JSON object");
    return parseObject(document.object());
}

QJsonObject ok(QJsonObject fields)
{
    fields.insert(QStringLiteral("ok"), true);
    return fields;
}

QJsonObject error(const QString &message)
{
    QString text = message;
    text.replace(u'\n', u' ');
    return QJsonObject{{QStringLiteral("ok"), false}, {QStringLiteral("error"), text}};
}

QByteArray line(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact) + '\n';
}

QString canonicalDataDir(const QString &dataDir)
{
    QString path = QDir::cleanPath(QDir(dataDir).absolutePath());
    QStringList missing;
    while (true) {
        const QString canonical = QFileInfo(path).canonicalFilePath();
        if (!canonical.isEmpty()) {
            missing.prepend(canonical);
            return QDir::cleanPath(missing.join(u'/'));
        }
        const qsizetype slash = path.lastIndexOf(u'/');
        if (slash <= 0) // nothing exists, not even "/": keep the cleaned path
            return QDir::cleanPath(QDir(dataDir).absolutePath());
        missing.prepend(path.mid(slash + 1));
        path = path.left(slash);
    }
}

QString serverName(const QString &dataDir, QString *errorText)
{
    const QString dir = privateSocketDirectory(errorText);
    if (dir.isEmpty())
        return {};
    const QByteArray hash =
        QCryptographicHash::hash(canonicalDataDir(dataDir).toUtf8(), QCryptographicHash::Sha1)
            .toHex()
            .left(12);
    return QStringLiteral("%1/taskdeck-%2-%3").arg(dir).arg(::getuid()).arg(QLatin1String(hash));
}

} // namespace InstanceProtocol
