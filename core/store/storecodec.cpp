#include "storecodec.h"

#include "taskjson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <limits>

namespace StoreCodec {

namespace {

// A process node: {"process": {"pid", "command", "name", "state", "cpu", "started",
// "running_ms", "exited"}, "children"}, what is at its default left out.
QJsonObject processObject(const ProcessInfo &p)
{
    QJsonObject object{{QStringLiteral("pid"), p.pid}, {QStringLiteral("command"), p.commandLine}};
    if (!p.name.isEmpty())
        object.insert(QStringLiteral("name"), p.name);
    object.insert(QStringLiteral("state"), QString(QLatin1Char(p.state)));
    if (p.exited)
        object.insert(QStringLiteral("exited"), true);
    if (p.cpuSeconds >= 0)
        object.insert(QStringLiteral("cpu"), p.cpuSeconds);
    if (p.rssBytes >= 0)
        object.insert(QStringLiteral("rss"), p.rssBytes);
    if (p.startedAtMs >= 0)
        object.insert(QStringLiteral("started"), p.startedAtMs);
    object.insert(QStringLiteral("running_ms"), p.runningMs);
    return object;
}

ProcessInfo processFromObject(const QJsonObject &object)
{
    ProcessInfo p;
    p.pid = object.value(QLatin1String("pid")).toInteger();
    p.commandLine = object.value(QLatin1String("command")).toString();
    p.name = object.value(QLatin1String("name")).toString();
    const QString state = object.value(QLatin1String("state")).toString();
    p.state = state.size() == 1 ? state.at(0).toLatin1() : '?';
    p.exited = object.value(QLatin1String("exited")).toBool();
    p.cpuSeconds = object.value(QLatin1String("cpu")).toDouble(-1);
    p.rssBytes = object.value(QLatin1String("rss")).toInteger(-1);
    p.startedAtMs = object.value(QLatin1String("started")).toInteger(-1);
    p.runningMs = object.value(QLatin1String("running_ms")).toInteger();
    return p;
}

// A coroutine node: TaskJson::stack's frames, with what the public JSON leaves out:
// coroutine ids and since when each awaits.
QJsonObject stackObject(const StackNode &node)
{
    QJsonObject object;
    if (node.isProcess()) {
        object.insert(QStringLiteral("process"), processObject(node.process));
    } else {
        object.insert(QStringLiteral("frames"), TaskJson::frames(node.frames));
        if (node.id != 0)
            object.insert(QStringLiteral("id"), node.id);
        if (!node.awaiting.isEmpty())
            object.insert(QStringLiteral("awaiting"), node.awaiting);
        if (node.awaitingSinceMs >= 0)
            object.insert(QStringLiteral("since"), node.awaitingSinceMs);
    }
    if (!node.children.isEmpty()) {
        QJsonArray children;
        for (const StackNode &child : node.children)
            children.append(stackObject(child));
        object.insert(QStringLiteral("children"), children);
    }
    return object;
}

// Before stacks had typed nodes, a process was written as a coroutine: id = pid, one
// frame {file: command line, line: pid, function: "pid 4711 sleep, running 3.2s" or
// "pid 4711, exited"}, awaiting "process sleeping", since = its start. Such a node
// becomes the process it describes (the CPU time was not kept); anything else stays a
// coroutine.
std::optional<ProcessInfo> legacyProcess(const StackNode &node)
{
    if (node.frames.size() != 1 || !node.awaiting.startsWith(u"process "))
        return std::nullopt;
    const StackFrame &frame = node.frames.first();
    if (frame.line <= 0 || frame.line != node.id)
        return std::nullopt;
    static const QRegularExpression running(
        QStringLiteral("^pid (\\d+) (.*), running (\\d+\\.\\d)s$"));
    static const QRegularExpression exited(QStringLiteral("^pid (\\d+), exited$"));
    ProcessInfo p;
    p.pid = node.id;
    p.commandLine = frame.file;
    p.startedAtMs = node.awaitingSinceMs;
    if (const QRegularExpressionMatch m = exited.match(frame.function); m.hasMatch()) {
        if (m.captured(1).toLongLong() != p.pid || node.awaiting != u"process exited")
            return std::nullopt;
        p.exited = true;
        p.startedAtMs = -1;
        return p;
    }
    const QRegularExpressionMatch m = running.match(frame.function);
    if (!m.hasMatch() || m.captured(1).toLongLong() != p.pid)
        return std::nullopt;
    p.name = m.captured(2);
    p.runningMs = qRound64(m.captured(3).toDouble() * 1000);
    // The state back from its words: the one that reads the same.
    const QString words = node.awaiting.mid(8);
    for (const char state : {'R', 'S', 'D', 'T', 't', 'Z', 'I'}) {
        p.state = state;
        if (p.stateText() == words)
            return p;
    }
    if (words.size() == 10 && words.startsWith(u"in state ")) {
        p.state = words.at(9).toLatin1();
        return p;
    }
    return std::nullopt;
}

StackNode stackFromObject(const QJsonObject &object)
{
    StackNode node;
    if (const QJsonValue process = object.value(QLatin1String("process")); process.isObject()) {
        node.kind = StackNode::Kind::Process;
        node.process = processFromObject(process.toObject());
    } else {
        node.id = object.value(QLatin1String("id")).toInt();
        const QJsonArray frames = object.value(QLatin1String("frames")).toArray();
        node.frames.reserve(frames.size());
        for (const QJsonValue &value : frames) {
            const QJsonObject f = value.toObject();
            node.frames.append(StackFrame{f.value(QLatin1String("file")).toString(),
                                          f.value(QLatin1String("line")).toInt(),
                                          f.value(QLatin1String("function")).toString()});
        }
        node.awaiting = object.value(QLatin1String("awaiting")).toString();
        node.awaitingSinceMs = object.value(QLatin1String("since")).toInteger(-1);
        if (const std::optional<ProcessInfo> process = legacyProcess(node)) {
            node = StackNode();
            node.kind = StackNode::Kind::Process;
            node.process = *process;
        }
    }
    const QJsonArray children = object.value(QLatin1String("children")).toArray();
    node.children.reserve(children.size());
    for (const QJsonValue &child : children)
        node.children.append(stackFromObject(child.toObject()));
    return node;
}

QString compact(const QJsonArray &array)
{
    return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact));
}

QJsonArray arrayFromText(const QString &text)
{
    return QJsonDocument::fromJson(text.toUtf8()).array();
}

} // namespace

QString stackText(const std::shared_ptr<const StackNode> &stack)
{
    if (!stack)
        return {};
    return QString::fromUtf8(QJsonDocument(stackObject(*stack)).toJson(QJsonDocument::Compact));
}

std::shared_ptr<const StackNode> stackFromText(const QString &text)
{
    if (text.isEmpty())
        return {};
    const QJsonDocument document = QJsonDocument::fromJson(text.toUtf8());
    if (!document.isObject())
        return {};
    return std::make_shared<const StackNode>(stackFromObject(document.object()));
}

// QJsonDocument holds only objects and arrays: a result goes in as the one element of
// an array, and the brackets are taken off for the column.
std::optional<qint64> integerResult(const QJsonValue &result)
{
    if (!result.isDouble())
        return std::nullopt;
    const qint64 integer = result.toInteger(std::numeric_limits<qint64>::min());
    return double(integer) == result.toDouble() ? std::optional<qint64>(integer) : std::nullopt;
}

QString resultText(const QJsonValue &result)
{
    if (result.isUndefined())
        return {};
    if (const auto integer = integerResult(result)) // the common case, without a document
        return QString::number(*integer);
    const QString text = compact(QJsonArray{result});
    return text.mid(1, text.size() - 2);
}

QJsonValue resultFromText(const QString &text)
{
    if (text.isEmpty())
        return QJsonValue(QJsonValue::Undefined);
    const QJsonArray array = arrayFromText(u'[' + text + u']');
    return array.isEmpty() ? QJsonValue(QJsonValue::Undefined) : array.first();
}

QString stringsText(const QStringList &strings)
{
    return compact(QJsonArray::fromStringList(strings));
}

QStringList stringsFromText(const QString &text)
{
    QStringList strings;
    const QJsonArray array = arrayFromText(text);
    strings.reserve(array.size());
    for (const QJsonValue &value : array)
        strings.append(value.toString());
    return strings;
}

QString argsText(const QList<std::pair<QString, QString>> &args)
{
    QJsonArray array;
    for (const auto &[key, value] : args)
        array.append(QJsonArray{key, value});
    return compact(array);
}

QList<std::pair<QString, QString>> argsFromText(const QString &text)
{
    QList<std::pair<QString, QString>> args;
    for (const QJsonValue &value : arrayFromText(text)) {
        const QJsonArray pair = value.toArray();
        args.append({pair.at(0).toString(), pair.at(1).toString()});
    }
    return args;
}

QString kindName(ScriptKind kind)
{
    return kind == ScriptKind::Process ? QStringLiteral("process") : QStringLiteral("lua");
}

std::optional<ScriptKind> kindFromName(const QString &name)
{
    if (name == u"lua")
        return ScriptKind::Lua;
    if (name == u"process")
        return ScriptKind::Process;
    return std::nullopt;
}

std::optional<TaskState> stateFromName(const QString &name)
{
    for (TaskState state :
         {TaskState::Pending, TaskState::Running, TaskState::Succeeded, TaskState::Failed,
          TaskState::TimedOut, TaskState::Cancelled, TaskState::Interrupted})
        if (taskStateName(state) == name)
            return state;
    return std::nullopt;
}

} // namespace StoreCodec
