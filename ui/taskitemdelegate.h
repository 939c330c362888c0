#pragma once

#include "taskspec.h"

#include <QPersistentModelIndex>
#include <QStyledItemDelegate>

// Paints the task table's cells that are more than text: the progress bar, and the
// state cell's cancel button on every unfinished row (clickable: editorEvent turns a
// click on it into cancelClicked). Main thread.
class TaskItemDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    explicit TaskItemDelegate(QObject *parent = nullptr);

    // Where the cancel button sits inside a state cell's rectangle.
    static QRect cancelButtonRect(const QRect &cell);

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    // The priority editor covers the whole cell.
    void updateEditorGeometry(QWidget *editor, const QStyleOptionViewItem &option,
                              const QModelIndex &index) const override;
    QWidget *createEditor(QWidget *parent, const QStyleOptionViewItem &option,
                          const QModelIndex &index) const override;
    bool editorEvent(QEvent *event, QAbstractItemModel *model, const QStyleOptionViewItem &option,
                     const QModelIndex &index) override;

Q_SIGNALS:
    void cancelClicked(TaskId id);

private:
    void paintProgress(QPainter *painter, const QStyleOptionViewItem &option,
                       const QModelIndex &index) const;
    void paintState(QPainter *painter, const QStyleOptionViewItem &option,
                    const QModelIndex &index) const;

    QPersistentModelIndex m_pressed; // the state cell whose button is held down
};
