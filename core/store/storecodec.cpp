#include "storecodec.h"

#include "taskjson.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <limits>

namespace StoreCodec {

namespace {

// TaskJson::stack's frames, with what the public JSON leaves out: coroutine ids and since
// when each awaits.
QJsonObject stackObject(const CoroutineStack &stack)
{
    QJsonObject object{{QStringLiteral("frames"), TaskJson::frames(stack.frames)}};
    if (stack.id != 0)
        object.insert(QStringLiteral("id"), stack.id);
    if (!stack.awaiting.isEmpty())
        object.insert(QStringLiteral("awaiting"), stack.awaiting);
    if (stack.awaitingSinceMs >= 0)
        object.insert(QStringLiteral("since"), stack.awaitingSinceMs);
    if (!stack.children.isEmpty()) {
        QJsonArray children;
        for (const CoroutineStack &child : stack.children)
            children.append(stackObject(child));
        object.insert(QStringLiteral("children"), children);
    }
    return object;
}

CoroutineStack stackFromObject(const QJsonObject &object)
{
    CoroutineStack stack;
    stack.id = object.value(QLatin1String("id")).toInt();
    const QJsonArray frames = object.value(QLatin1String("frames")).toArray();
    stack.frames.reserve(frames.size());
    for (const QJsonValue &value : frames) {
        const QJsonObject f = value.toObject();
        stack.frames.append(StackFrame{f.value(QLatin1String("file")).toString(),
                                       f.value(QLatin1String("line")).toInt(),
                                       f.value(QLatin1String("function")).toString()});
    }
    stack.awaiting = object.value(QLatin1String("awaiting")).toString();
    stack.awaitingSinceMs = object.value(QLatin1String("since")).toInteger(-1);
    const QJsonArray children = object.value(QLatin1String("children")).toArray();
    stack.children.reserve(children.size());
    for (const QJsonValue &child : children)
        stack.children.append(stackFromObject(child.toObject()));
    return stack;
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

QString stackText(const std::shared_ptr<const CoroutineStack> &stack)
{
    if (!stack)
        return {};
    return QString::fromUtf8(QJsonDocument(stackObject(*stack)).toJson(QJsonDocument::Compact));
}

std::shared_ptr<const CoroutineStack> stackFromText(const QString &text)
{
    if (text.isEmpty())
        return {};
    const QJsonDocument document = QJsonDocument::fromJson(text.toUtf8());
    if (!document.isObject())
        return {};
    return std::make_shared<const CoroutineStack>(stackFromObject(document.object()));
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
