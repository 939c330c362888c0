#include "taskjson.h"

#include <QDateTime>
#include <QJsonArray>

namespace TaskJson {

QJsonValue time(qint64 epochMs)
{
    if (epochMs < 0)
        return QJsonValue::Null;
    return QDateTime::fromMSecsSinceEpoch(epochMs, Qt::UTC)
               .toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzz")) +
           u'Z';
}

QJsonArray frames(const QList<StackFrame> &frames)
{
    QJsonArray array;
    for (const StackFrame &f : frames)
        array.append(QJsonObject{{QStringLiteral("file"), f.file},
                                 {QStringLiteral("line"), f.line},
                                 {QStringLiteral("function"), f.function}});
    return array;
}

// SPEC section 5 has one shape for every node, made for coroutines (see
// StackNode::shownFrames): a process shows as one frame awaiting "process <state>".
QJsonObject stack(const StackNode &node)
{
    QJsonArray children;
    for (const StackNode &child : node.children)
        children.append(TaskJson::stack(child));
    const QString awaiting = node.shownAwaiting();
    QJsonObject object{
        {QStringLiteral("frames"), frames(node.shownFrames())},
        {QStringLiteral("awaiting"),
         awaiting.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(awaiting)},
        {QStringLiteral("children"), children},
    };
    if (!node.isProcess() && !node.name.isEmpty()) { // SPEC section 9: named coroutines
        object.insert(QStringLiteral("name"), node.name);
        object.insert(QStringLiteral("id"), node.id);
    }
    if (node.count > 1) { // identical siblings merged: "50 × fetch_page"
        object.insert(QStringLiteral("count"), node.count);
        QJsonArray ids;
        for (int id : node.mergedIds)
            ids.append(id);
        object.insert(QStringLiteral("ids"), ids);
    }
    return object;
}

QJsonObject task(const TaskSnapshot &t)
{
    QJsonValue duration = QJsonValue::Null;
    if (t.startedAtMs >= 0 && t.finishedAtMs >= 0)
        duration = double(t.finishedAtMs - t.startedAtMs) / 1000.0;
    QJsonValue stackValue = QJsonValue::Null;
    if (t.state != TaskState::Succeeded && t.stack)
        stackValue = stack(*t.stack);
    QJsonArray after;
    QJsonArray afterEnded;
    for (const TaskDependency &d : t.dependencies) {
        after.append(qint64(d.id));
        if (d.anyEnd)
            afterEnded.append(qint64(d.id));
    }
    QJsonObject object{
        {QStringLiteral("id"), qint64(t.id)},
        {QStringLiteral("name"), t.name},
        {QStringLiteral("file"), t.file},
        {QStringLiteral("state"), taskStateName(t.state)},
        {QStringLiteral("result"), t.result.isUndefined() ? QJsonValue::Null : t.result},
        {QStringLiteral("error"), t.error.isEmpty() ? QJsonValue(QJsonValue::Null) : t.error},
        {QStringLiteral("stack"), stackValue},
        {QStringLiteral("attempts"), t.attempt},
        {QStringLiteral("started_at"), time(t.startedAtMs)},
        {QStringLiteral("finished_at"), time(t.finishedAtMs)},
        {QStringLiteral("duration_s"), duration},
        {QStringLiteral("after"), after},
    };
    if (!afterEnded.isEmpty())
        object.insert(QStringLiteral("after_ended"), afterEnded);
    return object;
}

} // namespace TaskJson
