#include "taskdependency.h"

#include <QJsonArray>
#include <QJsonDocument>

TaskDependencies DependencyOptions::forTask(const QList<TaskId> &ids, qsizetype index) const
{
    TaskDependencies dependencies;
    if (chain && index > 0) {
        dependencies.append(TaskDependency{ids[index - 1], false});
        return dependencies;
    }
    dependencies.reserve(after.size() + afterEnded.size());
    for (TaskId id : after)
        dependencies.append(TaskDependency{id, false});
    for (TaskId id : afterEnded)
        dependencies.append(TaskDependency{id, true});
    return dependencies;
}

namespace TaskDependencyText {

std::optional<QList<TaskId>> parseIds(const QString &text)
{
    QList<TaskId> ids;
    for (QString part : text.split(u',')) {
        part = part.trimmed();
        if (part.startsWith(u'#'))
            part.remove(0, 1);
        bool ok = false;
        const qulonglong id = part.toULongLong(&ok);
        if (!ok || id == 0)
            return std::nullopt;
        if (!ids.contains(TaskId(id)))
            ids.append(TaskId(id));
    }
    return ids;
}

QString encode(const TaskDependencies &dependencies)
{
    QJsonArray array;
    for (const TaskDependency &d : dependencies)
        array.append(QJsonArray{qint64(d.id), d.anyEnd ? 1 : 0});
    return QString::fromUtf8(QJsonDocument(array).toJson(QJsonDocument::Compact));
}

TaskDependencies decode(const QString &text)
{
    TaskDependencies dependencies;
    const QJsonArray array = QJsonDocument::fromJson(text.toUtf8()).array();
    for (const QJsonValue &value : array) {
        const QJsonArray pair = value.toArray();
        const qint64 id = pair.at(0).toInteger();
        if (id > 0)
            dependencies.append(TaskDependency{TaskId(id), pair.at(1).toInteger() != 0});
    }
    return dependencies;
}

} // namespace TaskDependencyText
